// Command image builds an OCI image index from static Go binaries, without a
// container daemon, and writes it as an OCI image-layout tarball that
// `ctr images import`, `crane push`, `skopeo copy oci-archive:` and
// `docker load` (Docker 25+) read.
//
// The image is what the repository's Dockerfile builds: one layer with the
// binary at --path plus /etc/passwd and /etc/group naming the nonroot user
// 65532, no shell, no package manager. Every timestamp is --created (the
// commit time), tar entries are sorted with fixed owners and modes, so the
// same binaries give the same digest every time.
//
//	image -ref ghcr.io/meshgate/meshgate:0.1.0 \
//	  -binary linux/amd64=bin/image/linux_amd64/meshgate \
//	  -binary linux/arm64=bin/image/linux_arm64/meshgate \
//	  -path /meshgate -label org.opencontainers.image.version=0.1.0 \
//	  -created 1795313893 -out dist/meshgate-0.1.0.oci.tar
//
// The index digest is printed on standard output.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		o                                Options
		binaries, labels, cmd, env, args listFlag
		created                          int64
	)
	flag.StringVar(&o.Ref, "ref", "", "image reference the tarball names (repository:tag)")
	flag.Var(&binaries, "binary", "OS/ARCH=PATH of the static binary for one platform (repeatable)")
	flag.StringVar(&o.Path, "path", "", "where the binary goes in the image; the entrypoint")
	flag.Var(&args, "entrypoint-arg", "argument appended to the entrypoint (repeatable)")
	flag.Var(&cmd, "cmd", "default arguments (CMD, repeatable)")
	flag.Var(&labels, "label", "KEY=VALUE image label and index annotation (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE environment variable (repeatable)")
	flag.StringVar(&o.User, "user", "65532:65532", "user:group the image runs as")
	flag.Int64Var(&created, "created", 0, "creation time, seconds since the epoch (use the commit time)")
	flag.StringVar(&o.Out, "out", "", "OCI image-layout tarball to write")
	flag.Parse()

	o.Created = time.Unix(created, 0).UTC()
	o.Entrypoint = append([]string{o.Path}, args...)
	o.Cmd = cmd
	o.Env = env
	o.Labels = map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			fail(fmt.Errorf("-label %q: want KEY=VALUE", l))
		}
		o.Labels[k] = v
	}
	for _, b := range binaries {
		plat, path, ok := strings.Cut(b, "=")
		osName, arch, ok2 := strings.Cut(plat, "/")
		if !ok || !ok2 {
			fail(fmt.Errorf("-binary %q: want OS/ARCH=PATH", b))
		}
		o.Binaries = append(o.Binaries, Binary{OS: osName, Arch: arch, Path: path})
	}
	digest, err := Build(o)
	if err != nil {
		fail(err)
	}
	fmt.Println(digest)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "image:", err)
	os.Exit(1)
}
