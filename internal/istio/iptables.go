package istio

import "strings"

// istio-iptables flags that the two traffic annotations feed. The injector renders
// `-b <includeInboundPorts>` and `-i <includeOutboundIPRanges>` into istio-init's
// arguments (long forms --istio-inbound-ports and --istio-service-cidr).
var iptablesFlags = [][]string{
	{"-b", "--istio-inbound-ports"},
	{"-i", "--istio-service-cidr"},
}

// RewriteIptablesArgs returns istio-init's arguments with the inbound ports (-b)
// and the outbound IP ranges (-i) set to "", which is what the injector renders
// from traffic.sidecar.istio.io/includeInboundPorts: "" and
// includeOutboundIPRanges: "". Every occurrence of either flag is rewritten, read
// the way istio-iptables' flag parser (pflag) reads it: "-b value", "-bvalue" and
// "-b=value" (all "-b" with a value) become "-b" ""; "--istio-inbound-ports value"
// and "--istio-inbound-ports=value" become the same with "". A flag that is absent
// is appended as -b "". Arguments after "--" are kept last, untouched. The input is
// not modified; changed is false when nothing had to change.
func RewriteIptablesArgs(args []string) (out []string, changed bool) {
	out = make([]string, 0, len(args)+4)
	seen := make([]bool, len(iptablesFlags))
	var rest []string // from "--", the end of flags, on
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == endOfFlags {
			rest = args[i:]
			break
		}
		f, form := matchFlag(a)
		if f < 0 {
			out = append(out, a)
			continue
		}
		seen[f] = true
		switch form {
		case attachedShort: // "-b*", "-b=*": pflag reads everything after the letter
			out = append(out, a[:2], "")
			changed = true
		case inlineLong:
			name := a[:strings.IndexByte(a, '=')]
			if a != name+"=" {
				changed = true
			}
			out = append(out, name+"=")
		default: // the value is the next argument
			out = append(out, a, "")
			if i+1 < len(args) {
				if args[i+1] != "" {
					changed = true
				}
				i++
			} else {
				changed = true
			}
		}
	}
	for f, ok := range seen {
		if !ok {
			out = append(out, iptablesFlags[f][0], "")
			changed = true
		}
	}
	out = append(out, rest...)
	if !changed {
		return args, false
	}
	return out, true
}

// How pflag reads arguments: "--" ends the flags, and starts a long flag.
const (
	endOfFlags = "--"
	longFlag   = "--"
)

// How a flag and its value are written.
const (
	separate      = iota // "-b" "value"
	attachedShort        // "-bvalue" or "-b=value"
	inlineLong           // "--istio-inbound-ports=value"
)

// matchFlag tells which of iptablesFlags a is (-1 for none) and how it is written.
func matchFlag(a string) (int, int) {
	for f, names := range iptablesFlags {
		short, long := names[0], names[1]
		switch {
		case a == short || a == long:
			return f, separate
		case strings.HasPrefix(a, long+"="):
			return f, inlineLong
		case !strings.HasPrefix(a, longFlag) && strings.HasPrefix(a, short):
			return f, attachedShort
		}
	}
	return -1, separate
}
