package check

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/meshgate/meshgate/internal/live"
	"github.com/meshgate/meshgate/internal/manifest"
	"github.com/meshgate/meshgate/internal/policy"
)

const overlayDir = "testdata/overlay"

func deniedServices(rep JSONReport) []string {
	var out []string
	for _, f := range rep.Findings {
		if f.Rule == policy.ServicePortName {
			out = append(out, f.Object.Name)
		}
	}
	return out
}

func overlayNotesOf(rep JSONReport) []JSONNote {
	var out []JSONNote
	for _, n := range rep.Notes {
		if n.Kind == NoteOverlay {
			out = append(out, n)
		}
	}
	return out
}

// clusterNamespace is the cluster's copy of otel-demo, labelled for sidecar
// injection (testdata/overlay/cluster.yaml, as a live read returns it).
func clusterNamespace(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	docs := manifest.Parse("cluster.yaml", mustRead(t, filepath.Join(overlayDir, "cluster.yaml")))
	require.Len(t, docs, 1)
	require.Len(t, docs[0].Objects, 1)
	return docs[0].Objects[0].Object
}

// liveService is a Service in otel-demo as the API server returns it.
func liveService(name, port string) *unstructured.Unstructured {
	u := obj("v1", "Service", "otel-demo", name, nil)
	u.Object["spec"] = map[string]any{"selector": map[string]any{"app": name}, "clusterIP": "10.0.0.9",
		"ports": []any{map[string]any{"name": port, "port": int64(8080), "protocol": "TCP"}}}
	return u
}

// TestInputMergesOverTheClusterState: an input Namespace without labels does
// not wipe the labels of the cluster's copy (applying it would not): the
// Services in it are checked as the webhook on that cluster would check them,
// and the report says which World object the input changed.
func TestInputMergesOverTheClusterState(t *testing.T) {
	demo := filepath.Join(overlayDir, "demo.yaml")
	world := filepath.Join(overlayDir, "cluster.yaml")
	ns := clusterNamespace(t)
	liveCluster := func() clusterReader {
		return func(context.Context) (*ClusterWorld, error) {
			return &ClusterWorld{Objects: []*unstructured.Unstructured{ns.DeepCopy()}, Known: []policy.WorldKind{policy.KindNamespace, policy.KindService}}, nil
		}
	}
	tests := []struct {
		name       string
		opts       Options
		wantDenied []string
		wantNote   string
	}{
		{"without the cluster's copy the namespace is outside the mesh", Options{Files: []string{demo}}, nil, ""},
		{"--world: the cluster's labels stay", Options{Files: []string{demo}, WorldFiles: []string{world}}, []string{"cart", "frontend"},
			"changes the World's Namespace otel-demo (from " + world + ":3): the rules use what applying it would leave (the input's fields win, fields it does not set stay); kept: label istio-injection=enabled, annotation owner"},
		{"--kubeconfig: the cluster's labels stay", Options{Files: []string{demo}, cluster: liveCluster()}, []string{"cart", "frontend"},
			"changes the cluster's Namespace otel-demo: the rules use what applying it would leave (the input's fields win, fields it does not set stay); kept: label istio-injection=enabled, annotation owner"},
		{"--live with -f overlays, read through the API: the cluster's labels stay", Options{Files: []string{demo}, Live: true, cluster: func(ctx context.Context) (*ClusterWorld, error) {
			dyn, mapper := fakeCluster(t, ns.DeepCopy(), liveService("cart", "service"), liveService("ad", "plaintext"))
			return read(ctx, live.NewReader(dyn, mapper), true, "")
		}}, []string{"cart", "frontend", "ad"}, "changes the cluster's Namespace otel-demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Format = FormatJSON
			r := runCheck(t, tt.opts)
			require.NoError(t, r.err)
			rep := decodeJSON(t, r.stdout)
			assert.Equal(t, tt.wantDenied, deniedServices(rep))
			notes := overlayNotesOf(rep)
			if tt.wantNote == "" {
				assert.Empty(t, notes)
				assert.Zero(t, rep.Summary.Overlays)
				return
			}
			require.Len(t, notes, 1)
			assert.Equal(t, demo, notes[0].File)
			assert.Equal(t, 2, notes[0].Line)
			assert.Contains(t, notes[0].Message, tt.wantNote)
			assert.Equal(t, 1, rep.Summary.Overlays)

			tt.opts.Format = FormatText
			text := runCheck(t, tt.opts)
			assert.Contains(t, text.stdout, demo+":2: note changes ")
			assert.Contains(t, text.stdout, ", 1 World objects merged with the input")
		})
	}
}

// TestInputKeysWinOverTheClusterState: the input's labels win key by key, a
// null deletes one, and an input that changes nothing is no note.
func TestInputKeysWinOverTheClusterState(t *testing.T) {
	ns := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: otel-demo\n"
	svc := "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: cart\n  namespace: otel-demo\nspec:\n  selector:\n    app: cart\n  ports:\n  - name: service\n    port: 8080\n"
	tests := []struct {
		name       string
		input      string
		wantDenied []string
		wantNote   string
	}{
		{"the input's label wins", ns + "  labels:\n    istio-injection: disabled\n" + svc, nil, "changes the World's Namespace otel-demo"},
		{"a null label deletes the cluster's", ns + "  labels:\n    istio-injection: null\n" + svc, nil, "changes the World's Namespace otel-demo"},
		{"an input that only repeats the cluster's copy changes nothing", ns + "  labels:\n    istio-injection: enabled\n" + svc, []string{"cart"}, ""},
		{"an input without the cluster's labels changes nothing, and the note says the rules used them", ns + svc, []string{"cart"},
			"leaves the World's Namespace otel-demo (from testdata/overlay/cluster.yaml:3) as it is: the rules use that copy; kept: label istio-injection=enabled, annotation owner"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"in.yaml": tt.input})
			r := runCheck(t, Options{Files: []string{dir}, WorldFiles: []string{filepath.Join(overlayDir, "cluster.yaml")}, Format: FormatJSON})
			require.NoError(t, r.err)
			rep := decodeJSON(t, r.stdout)
			assert.Equal(t, tt.wantDenied, deniedServices(rep))
			notes := overlayNotesOf(rep)
			if tt.wantNote == "" {
				assert.Empty(t, notes)
				return
			}
			require.Len(t, notes, 1)
			assert.Contains(t, notes[0].Message, tt.wantNote)
		})
	}
}

func TestApplyOver(t *testing.T) {
	live := map[string]any{
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"x": "1", "y": "2"}, "uid": "u"},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80)}}, "clusterIP": "10.0.0.1"},
	}
	input := map[string]any{
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"y": "3", "x": nil}},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(81)}}},
	}
	got := applyOver(live, input)
	assert.Equal(t, map[string]any{
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"y": "3"}, "uid": "u"},
		"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(81)}}, "clusterIP": "10.0.0.1"},
	}, got)
	assert.Equal(t, "1", live["metadata"].(map[string]any)["labels"].(map[string]any)["x"], "the live object is not modified")
	got["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"] = int64(9)
	assert.Equal(t, int64(81), input["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["port"], "nor is the input")
}

func TestCovers(t *testing.T) {
	live := liveService("cart", "service").Object
	tests := []struct {
		name  string
		input map[string]any
		want  bool
	}{
		{"fields the API server defaulted are no change", liveService("cart", "service").Object, true},
		{"a subset of the live object is no change", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"name": "service", "port": int64(8080)}}}}, true},
		{"another port name is a change", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"name": "http", "port": int64(8080)}}}}, false},
		{"another number of ports is a change", map[string]any{"spec": map[string]any{"ports": []any{}}}, false},
		{"a new label is a change", map[string]any{"metadata": map[string]any{"labels": map[string]any{"a": "b"}}}, false},
		{"a null for an absent field is no change", map[string]any{"metadata": map[string]any{"labels": nil}}, true},
		{"a null for a set field is a change", map[string]any{"spec": map[string]any{"clusterIP": nil}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, covers(live, tt.input)) })
	}
}
