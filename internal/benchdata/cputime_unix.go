//go:build unix

package benchdata

import (
	"syscall"
	"time"
)

// CPUTime returns the CPU time (user + system) this process has used so far,
// every thread counted (the garbage collector's too); ok is false where the
// platform cannot tell. On a machine whose cores are shared, CPU time per
// review is the steadier measure of what a review costs: wall time also
// counts the waits for a core.
func CPUTime() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
