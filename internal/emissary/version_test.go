package emissary_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/meshgate/meshgate/internal/emissary"
)

func TestStaleIstioCerts(t *testing.T) {
	tests := []struct {
		name, image, version string
		stale                bool
	}{
		{"Emissary 3.10 from Docker Hub", "docker.io/emissaryingress/emissary:3.10.0", "3.10.0", true},
		{"Docker Hub without registry", "emissaryingress/emissary:2.5.1", "2.5.1", true},
		{"index.docker.io", "index.docker.io/emissaryingress/emissary:3.9.1", "3.9.1", true},
		{"first release with the IR cache", "emissaryingress/emissary:2.1.0", "2.1.0", true},
		{"datawire/emissary", "docker.io/datawire/emissary:2.2.2", "2.2.2", true},
		{"Emissary 4.0.1 from GHCR", "ghcr.io/emissary-ingress/emissary:4.0.1", "4.0.1", true},
		{"v prefix", "ghcr.io/emissary-ingress/emissary:v4.0.1", "4.0.1", true},
		{"release candidate of 4.0", "ghcr.io/emissary-ingress/emissary:4.0.0-rc.2", "4.0.0-rc.2", true},
		{"major.minor only", "ghcr.io/emissary-ingress/emissary:4.0", "4.0", true},
		{"Ambassador Edge Stack 3.10", "docker.io/datawire/aes:3.10.2", "3.10.2", true},
		{"Emissary 4.1.0 is fixed", "ghcr.io/emissary-ingress/emissary:4.1.0", "", false},
		{"4.1.0 release candidate carries the fix", "ghcr.io/emissary-ingress/emissary:4.1.0-rc.0", "", false},
		{"later releases", "ghcr.io/emissary-ingress/emissary:5.0.0", "", false},
		{"before the IR cache (2.0)", "docker.io/emissaryingress/emissary:2.0.5", "", false},
		{"Ambassador 1.x image is not read", "docker.io/datawire/ambassador:1.14.4", "", false},
		{"AES after the shared releases is unknown", "docker.io/datawire/aes:3.12.0", "", false},
		{"digest", "ghcr.io/emissary-ingress/emissary@sha256:0123456789abcdef", "", false},
		{"tag and digest", "ghcr.io/emissary-ingress/emissary:3.10.0@sha256:0123456789abcdef", "", false},
		{"untagged", "ghcr.io/emissary-ingress/emissary", "", false},
		{"latest", "emissaryingress/emissary:latest", "", false},
		{"bare major", "emissaryingress/emissary:3", "", false},
		{"mirror registry is unknown", "registry.example.com/emissaryingress/emissary:3.10.0", "", false},
		{"registry with a port", "localhost:5000/emissary:3.10.0", "", false},
		{"garbage tag", "emissaryingress/emissary:3.x.1", "", false},
		{"signed part", "emissaryingress/emissary:3.+1", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, stale := emissary.StaleIstioCerts(tt.image)
			assert.Equal(t, tt.stale, stale)
			assert.Equal(t, tt.version, v)
		})
	}
}
