package istio

import (
	"fmt"
	"slices"
)

// InjectBlocksCEL is InjectBlocks(v) for the CEL string v.
func InjectBlocksCEL(v string) string {
	return fmt.Sprintf("!(%s.lowerAscii() in %s)", v, quoted(slices.Concat(injectYes, []string{""})))
}
