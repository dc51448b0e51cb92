//go:build !unix

package benchdata

import "time"

// CPUTime returns the CPU time this process has used so far; ok is false
// where the platform cannot tell, as here.
func CPUTime() (d time.Duration, ok bool) { return 0, false }
