// Command release writes a meshgate release into a directory (make release):
//
//   - meshgate_<version>_<os>_<arch>.tar.gz (.zip for windows): the static
//     CLI binary with LICENSE and README.md;
//   - meshgate-<version>.oci.tar: the image, as make image builds it
//     (hack/image/build.sh), from the linux binaries built here;
//   - meshgate-<version>.tgz: the Helm chart, version and appVersion set to
//     the release's version;
//   - meshgate_<version>_linux_amd64.sbom.cdx.json: a CycloneDX SBOM of the
//     linux/amd64 binary (cyclonedx-gomod bin);
//   - SHA256SUMS over all of them, in sha256sum's format.
//
// The same commit gives the same bytes: binaries are built with the pinned
// Go toolchain, CGO_ENABLED=0, -trimpath and an empty build id; every archive
// entry has the commit time, owner 0:0, fixed modes and a fixed order; the
// SBOM has no serial number and no timestamp.
//
//	go run ./hack/release -version 0.1.0 -out dist -cyclonedx-gomod bin/tools/.../cyclonedx-gomod
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
)

func main() {
	var (
		o       Options
		targets string
	)
	flag.StringVar(&o.Version, "version", "", "release version, x.y.z (no leading v)")
	flag.StringVar(&o.Out, "out", "dist", "directory the release is written to")
	flag.StringVar(&o.Work, "work", "", "directory for the binaries (default bin/release/<version>)")
	flag.StringVar(&targets, "targets", strings.Join(DefaultTargets, ","), "OS/ARCH list of the CLI binaries")
	flag.BoolVar(&o.Image, "image", true, "build the image tarball (needs linux/amd64 and linux/arm64)")
	flag.BoolVar(&o.Chart, "chart", true, "package the chart")
	flag.StringVar(&o.CycloneDX, "cyclonedx-gomod", "", "cyclonedx-gomod binary for the SBOM (required when linux/amd64 is built)")
	flag.StringVar(&o.Toolchain, "go", Toolchain, "Go toolchain the binaries are built with (GOTOOLCHAIN)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %q", flag.Args()))
	}
	if targets != "" {
		o.Targets = strings.Split(targets, ",")
	}
	o.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	files, err := Release(ctx, o)
	if err != nil {
		fail(err)
	}
	for _, f := range files {
		fmt.Println(f)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "release:", err)
	os.Exit(1)
}
