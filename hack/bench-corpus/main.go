// Command bench-corpus writes the generated manifest corpus that `meshgate
// check`'s performance target is measured on (see docs/ci.md, "Performance").
//
//	go run ./hack/bench-corpus -n 10000 -o bin/bench-corpus
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/meshgate/meshgate/internal/check/benchcorpus"
)

func main() {
	n := flag.Int("n", 10000, "number of objects (at least)")
	out := flag.String("o", "bin/bench-corpus", "output directory (replaced)")
	flag.Parse()
	if err := os.RemoveAll(*out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-corpus:", err)
		os.Exit(1)
	}
	total, err := benchcorpus.Write(*out, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-corpus:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench-corpus: %d objects in %s\n", total, *out)
}
