package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolveGatewayRef(t *testing.T) {
	tests := []struct {
		ref     string
		want    string
		form    string
		wantErr string
	}{
		{ref: "mesh", want: "mesh", form: RefMesh},
		{ref: "istio-ingress/istio-ingressgateway", want: "istio-ingress/istio-ingressgateway", form: RefQualified},
		{ref: "app/gw", want: "app/gw", form: RefQualified},
		{ref: "gw", want: "app/gw", form: RefShort},
		{ref: "gw.infra", want: "infra/gw", form: RefLegacy},
		{ref: "gw.infra.svc.cluster.local", want: "infra/gw", form: RefLegacy},
		{ref: "service-gw.default", want: "default/service-gw", form: RefLegacy},
		{ref: "./gw", wantErr: `"." is not a namespace`},
		{ref: "*/gw", wantErr: `"*" is not a namespace`},
		{ref: "", wantErr: "empty"},
		{ref: "/gw", wantErr: "must both be set"},
		{ref: "infra/", wantErr: "must both be set"},
		{ref: "gw.", wantErr: "must both be set"},
		{ref: ".infra", wantErr: "must both be set"},
		{ref: "Infra/gw", wantErr: `namespace "Infra" is not valid`},
		{ref: "infra/gw/x", wantErr: `gateway name "gw/x" is not valid`},
		{ref: "my_gw", wantErr: `gateway name "my_gw" is not valid`},
		{ref: "MESH", wantErr: `gateway name "MESH" is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := ResolveGatewayRef(tt.ref, "app")
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.String())
			assert.Equal(t, tt.form, got.Form)
		})
	}
}
