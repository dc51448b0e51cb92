package emissary

import (
	"strconv"
	"strings"
)

// Emissary's images, by repository (Docker Hub's without its registry), and
// the releases of each that keep the Istio certificates they loaded at start.
// Emissary 2.1.0 brought the IR cache whose check for changes missed the
// rotated istio-certs Secret (it matches no Kubernetes resource, so a rotation
// produced no delta); 4.1.0 fixed it. Ambassador Edge Stack shipped Emissary's
// code under the same version numbers up to 3.10; its later releases are not
// known here. Every other image, tag or digest is unknown and never reported.
var staleCertImages = map[string]versionRange{
	"emissaryingress/emissary":          {from: version{2, 1, 0}, to: version{4, 1, 0}},
	"datawire/emissary":                 {from: version{2, 1, 0}, to: version{4, 1, 0}},
	"ghcr.io/emissary-ingress/emissary": {from: version{2, 1, 0}, to: version{4, 1, 0}},
	"datawire/aes":                      {from: version{2, 1, 0}, to: version{3, 11, 0}},
}

// CertRotationFixed is the first Emissary release that picks up rotated Istio
// certificates.
const CertRotationFixed = "4.1.0"

type version [3]int

func (v version) less(o version) bool {
	for i := range v {
		if v[i] != o[i] {
			return v[i] < o[i]
		}
	}
	return false
}

// versionRange is [from, to).
type versionRange struct{ from, to version }

// StaleIstioCerts reports whether image is a known Emissary image whose
// release never reloads rotated Istio certificates (sidecar wiring), and the
// version its tag names. Only tags of at least major.minor are read (a v
// prefix and a pre-release suffix are allowed: 4.1.0-rc.0 counts as 4.1.0); a
// digest, a bare major, "latest" or an unknown repository give false.
func StaleIstioCerts(image string) (string, bool) {
	if strings.Contains(image, "@") {
		return "", false
	}
	repo, tag := splitImage(image)
	r, ok := staleCertImages[repo]
	if !ok || tag == "" {
		return "", false
	}
	v, ok := parseVersion(tag)
	if !ok || v.less(r.from) || !v.less(r.to) {
		return "", false
	}
	return strings.TrimPrefix(tag, "v"), true
}

// splitImage returns the repository of image, without the docker.io (or
// index.docker.io) registry, and its tag ("" when untagged).
func splitImage(image string) (repo, tag string) {
	repo = image
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		repo, tag = image[:i], image[i+1:]
	}
	for _, hub := range []string{"docker.io/", "index.docker.io/"} {
		repo = strings.TrimPrefix(repo, hub)
	}
	return repo, tag
}

// parseVersion reads [v]MAJOR.MINOR[.PATCH][-pre]; a missing patch is 0.
func parseVersion(tag string) (version, bool) {
	tag = strings.TrimPrefix(tag, "v")
	if i := strings.IndexAny(tag, "-+"); i >= 0 {
		tag = tag[:i]
	}
	parts := strings.Split(tag, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return version{}, false
	}
	var v version
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || p[0] == '+' {
			return version{}, false
		}
		v[i] = n
	}
	return v, true
}
