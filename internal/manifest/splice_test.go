package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gomodules.xyz/jsonpatch/v2"
)

func TestSplice(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		ops    []jsonpatch.Operation
		prefix string
		isJSON bool
		want   string
	}{
		{
			name: "an added key keeps the block's indentation and the comments",
			src:  "metadata:\n    name: a   # the name\nspec: {}\n",
			ops:  []jsonpatch.Operation{jsonpatch.NewOperation("add", "/metadata/labels", map[string]any{"app": "a"})},
			want: "metadata:\n    name: a   # the name\n    labels:\n        app: a\nspec: {}\n",
		},
		{
			name: "a key added to a flow mapping stays in flow style",
			src:  "spec:\n  ports:\n  - {port: 80}   # web\n",
			ops:  []jsonpatch.Operation{jsonpatch.NewOperation("add", "/spec/ports/0/name", "http")},
			want: "spec:\n  ports:\n  - {port: 80, name: http}   # web\n",
		},
		{
			name: "a replaced value keeps CRLF line ends",
			src:  "spec:\r\n  service: quote   # backend\r\n",
			ops:  []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/spec/service", "quote:80")},
			want: "spec:\r\n  service: quote:80   # backend\r\n",
		},
		{
			name: "an escaped pointer token names a key with a slash",
			src:  "metadata:\n  annotations:\n    a/b: x\n",
			ops:  []jsonpatch.Operation{jsonpatch.NewOperation("replace", "/metadata/annotations/a~1b", "z")},
			want: "metadata:\n  annotations:\n    a/b: z\n",
		},
		{
			name:   "the prefix locates a List's item",
			src:    "items:\n- kind: A\n- kind: B\n",
			ops:    []jsonpatch.Operation{jsonpatch.NewOperation("add", "/x", "z")},
			prefix: "/items/1",
			want:   "items:\n- kind: A\n- kind: B\n  x: z\n",
		},
		{
			name:   "JSON gets JSON",
			src:    "{\n  \"spec\": {\"port\": 80}\n}\n",
			ops:    []jsonpatch.Operation{jsonpatch.NewOperation("add", "/spec/name", "http")},
			isJSON: true,
			want:   "{\n  \"spec\": {\"port\": 80, \"name\": \"http\"}\n}\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Splice([]byte(tt.src), tt.ops, tt.prefix, tt.isJSON)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}

func TestSpliceRefusesWhatItCannotPlace(t *testing.T) {
	tests := []struct {
		name string
		src  string
		op   jsonpatch.Operation
		want string
	}{
		{"a path that does not exist", "spec: {}\n", jsonpatch.NewOperation("add", "/status/x", 1), `no "status" in the document`},
		{"an insert into a flow sequence", "a: [1, 2]\n", jsonpatch.NewOperation("add", "/a/0", 0), "insert into a flow sequence"},
		{"a path through an alias", "x: &x {b: 1}\ny: *x\n", jsonpatch.NewOperation("add", "/y/c", 2), "alias"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Splice([]byte(tt.src), []jsonpatch.Operation{tt.op}, "", false)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
