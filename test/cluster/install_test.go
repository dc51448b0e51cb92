package cluster

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// meshgatePods are the Ready pods of the default release.
func meshgatePods(t *testing.T) []corev1.Pod {
	t.Helper()
	list, err := kube.CoreV1().Pods(namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=meshgate"})
	require.NoError(t, err)
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && podReady(&p) {
			out = append(out, p)
		}
	}
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestInstallWithDefaults(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	t.Run("the release is deployed and both replicas are Ready", func(t *testing.T) {
		out := kubectl(t, "", "-n", namespace, "get", "deployment", release, "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}")
		assert.Equal(t, "2/2", out)
		status, err := run("", "helm", "status", release, "-n", namespace)
		require.NoError(t, err, status)
		assert.Contains(t, status, "STATUS: deployed")
	})
	t.Run("cert-manager issued the CA chain and cainjector filled both webhooks' caBundle", func(t *testing.T) {
		out := kubectl(t, "", "-n", namespace, "get", "certificates.cert-manager.io", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=='Ready')].status} {end}")
		for _, c := range []string{release + "-ca", release + "-serving"} {
			assert.Contains(t, out, c+"=True", "Certificate %s Ready", c)
		}
		secret, err := kube.CoreV1().Secrets(namespace).Get(ctx, release+"-tls", metav1.GetOptions{})
		require.NoError(t, err, "the serving Secret")
		ca := secret.Data["ca.crt"]
		require.NotEmpty(t, ca)
		mw := kubectl(t, "", "get", "mutatingwebhookconfigurations", "-l", "app.kubernetes.io/instance="+release, "-o", "jsonpath={.items[0].webhooks[0].clientConfig.caBundle}")
		vw := kubectl(t, "", "get", "validatingwebhookconfigurations", "-l", "app.kubernetes.io/instance="+release, "-o", "jsonpath={.items[0].webhooks[0].clientConfig.caBundle}")
		assert.Equal(t, base64.StdEncoding.EncodeToString(ca), mw, "cainjector put the serving Secret's CA into the mutating webhook")
		assert.Equal(t, mw, vw, "both webhooks trust the same CA")
	})
	t.Run("meshgate's pods run under the restricted Pod Security Standard", func(t *testing.T) {
		out := kubectl(t, "", "get", "namespace", namespace, "-o", "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}")
		assert.Equal(t, "restricted", out)
		assert.Len(t, meshgatePods(t), 2)
		events := kubectl(t, "", "-n", namespace, "get", "events", "--field-selector", "reason=FailedCreate", "-o", "name")
		assert.Empty(t, strings.TrimSpace(events), "no pod was refused by Pod Security admission")
	})
}

// emissaryDeployment is Emissary-ingress as its chart installs it, with the
// vendor's sidecar.istio.io/inject: "false"; the container runs the node's
// local pause image so the pod can start without a registry.
const emissaryDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: emissary-ingress, namespace: emissary}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: emissary-ingress}}
  template:
    metadata:
      labels: {app.kubernetes.io/name: emissary-ingress, product: aes, profile: main}
      annotations: {sidecar.istio.io/inject: "false"}
    spec:
      terminationGracePeriodSeconds: 0
      containers:
      - name: emissary-ingress
        image: localhost/meshgate-cluster/pause:1
        imagePullPolicy: Never
        ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}, {name: admin, containerPort: 8877}]
`

func TestEmissaryDeploymentGetsWiredPod(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	kubectl(t, emissaryDeployment, "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = run("", "kubectl", "-n", "emissary", "delete", "deployment", "emissary-ingress", "--wait=false")
	})
	var pod *corev1.Pod
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Pods("emissary").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=emissary-ingress"})
		if err != nil || len(list.Items) == 0 {
			return false, nil
		}
		pod = &list.Items[0]
		return true, nil
	}), "the ReplicaSet controller creates the pod")

	t.Run("the pod was created by the ReplicaSet controller, not by hand", func(t *testing.T) {
		assert.Equal(t, "emissary-ingress-", pod.GenerateName[:len("emissary-ingress-")], "generateName")
		require.Len(t, pod.OwnerReferences, 1)
		assert.Equal(t, "ReplicaSet", pod.OwnerReferences[0].Kind)
		var managers []string
		for _, mf := range pod.ManagedFields {
			if mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == "" {
				managers = append(managers, mf.Manager)
			}
		}
		assert.Contains(t, managers, "kube-controller-manager", "the create came from the controller-manager")
	})
	t.Run("meshgate wired Istio's certificates into it", func(t *testing.T) {
		a := pod.Annotations
		assert.Equal(t, "true", a["sidecar.istio.io/inject"], "the vendor's inject=false is flipped")
		assert.Contains(t, a["proxy.istio.io/config"], "OUTPUT_CERTS: /etc/istio-certs")
		assert.Contains(t, a["sidecar.istio.io/userVolumeMount"], `"istio-certs"`)
		var vols []string
		for _, v := range pod.Spec.Volumes {
			vols = append(vols, v.Name)
		}
		assert.Contains(t, vols, "istio-certs")
		env := map[string]string{}
		for _, e := range pod.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		assert.Equal(t, "/etc/istio-certs", env["AMBASSADOR_ISTIO_SECRET_DIR"])
	})
	t.Run("the wired pod starts", func(t *testing.T) {
		kubectl(t, "", "-n", "emissary", "wait", "--for=condition=Ready", "pod/"+pod.Name, "--timeout=2m")
	})
}

func TestAdmissionThroughKubectl(t *testing.T) {
	needCluster(t)
	t.Run("a Service with a bad port name is denied with meshgate's message", func(t *testing.T) {
		out, err := run(`{apiVersion: v1, kind: Service, metadata: {name: reviews, namespace: apps}, spec: {selector: {app: reviews}, ports: [{name: http2foo, port: 9080}]}}`,
			"kubectl", "apply", "-f", "-")
		require.Error(t, err, out)
		assert.Contains(t, out, deniedBy+"[service-port-name] Service apps/reviews: spec.ports[0].name: ")
		_, gerr := run("", "kubectl", "-n", "apps", "get", "service", "reviews")
		assert.Error(t, gerr, "not stored")
	})
	t.Run("warnings reach kubectl", func(t *testing.T) {
		out := kubectl(t, `
apiVersion: v1
kind: Pod
metadata: {name: emissary-opted-out, namespace: emissary, labels: {app.kubernetes.io/name: emissary-ingress-manual, product: aes, profile: main}, annotations: {sidecar.istio.io/inject: "false", meshgate.io/inject: "false"}}
spec:
  containers: [{name: emissary-ingress, image: docker.io/emissaryingress/emissary:3.10.0, ports: [{name: admin, containerPort: 8877}]}]`,
			"apply", "--dry-run=server", "-f", "-")
		assert.Contains(t, out, "Warning: [edge-proxy-wiring] Pod emissary/emissary-opted-out: ")
	})
	t.Run("--dry-run=server returns the mutation and stores nothing", func(t *testing.T) {
		out := kubectl(t, `{apiVersion: v1, kind: Service, metadata: {name: dry-good, namespace: apps}, spec: {selector: {app: x}, ports: [{port: 80}]}}`,
			"apply", "--dry-run=server", "-o", "jsonpath={.spec.ports[0].name}", "-f", "-")
		assert.Equal(t, "http", out)
		out, err := run(`{apiVersion: v1, kind: Service, metadata: {name: dry-bad, namespace: apps}, spec: {selector: {app: x}, ports: [{name: http2foo, port: 9080}]}}`,
			"kubectl", "apply", "--dry-run=server", "-f", "-")
		require.Error(t, err, out)
		assert.Contains(t, out, deniedBy)
		for _, n := range []string{"dry-good", "dry-bad"} {
			_, gerr := run("", "kubectl", "-n", "apps", "get", "service", n)
			assert.Error(t, gerr, "%s not stored", n)
		}
	})
}

func TestRBACIsEnoughAndNoMore(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	sa := "system:serviceaccount:" + namespace + ":" + release
	t.Run("meshgate's caches synced with the chart's ServiceAccount", func(t *testing.T) {
		for _, p := range meshgatePods(t) {
			assert.Equal(t, release, p.Spec.ServiceAccountName)
			logs, err := kube.CoreV1().Pods(namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			require.NoError(t, err)
			assert.NotContains(t, string(logs), "forbidden", "pod %s logs no RBAC denial", p.Name)
		}
	})
	cases := []struct {
		name                  string
		verb, group, resource string
		allowed               bool
	}{
		{"it watches services", "watch", "", "services", true},
		{"it cannot read Secrets", "get", "", "secrets", false},
		{"it cannot list Secrets", "list", "", "secrets", false},
		{"it cannot create pods", "create", "", "pods", false},
		{"it cannot update services", "update", "", "services", false},
		{"it cannot delete configmaps", "delete", "", "configmaps", false},
		{"it cannot patch deployments", "patch", "apps", "deployments", false},
		{"it cannot write its own webhook configuration", "update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sar, err := kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:               sa,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: tc.verb, Group: tc.group, Resource: tc.resource, Namespace: "apps"},
			}}, metav1.CreateOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.allowed, sar.Status.Allowed, "%s %s.%s: %s", tc.verb, tc.resource, tc.group, sar.Status.Reason)
		})
	}
}
