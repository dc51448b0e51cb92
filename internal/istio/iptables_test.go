package istio

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRewriteIptablesArgs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		changed bool
	}{
		{
			name:    "Istio 1.2x args: -i and -b replaced in place",
			in:      []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "*", "-x", "", "-b", "*", "-d", "15090,15021,15020", "--log_output_level=default:info"},
			want:    []string{"istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT", "-i", "", "-x", "", "-b", "", "-d", "15090,15021,15020", "--log_output_level=default:info"},
			changed: true,
		},
		{
			name: "already wired",
			in:   []string{"istio-iptables", "-i", "", "-x", "", "-b", "", "-d", "15020"},
			want: []string{"istio-iptables", "-i", "", "-x", "", "-b", "", "-d", "15020"},
		},
		{
			name:    "long forms and inline values",
			in:      []string{"--istio-inbound-ports=*", "--istio-service-cidr", "10.0.0.0/8"},
			want:    []string{"--istio-inbound-ports=", "--istio-service-cidr", ""},
			changed: true,
		},
		{
			name:    "short forms with attached values (pflag reads -b=x and -bx as -b x)",
			in:      []string{"-b=8080", "-i*"},
			want:    []string{"-b", "", "-i", ""},
			changed: true,
		},
		{
			name:    "every occurrence is rewritten",
			in:      []string{"-b", "*", "-b", "80", "-i", ""},
			want:    []string{"-b", "", "-b", "", "-i", ""},
			changed: true,
		},
		{
			name:    "absent flags are appended",
			in:      []string{"istio-iptables", "-p", "15001"},
			want:    []string{"istio-iptables", "-p", "15001", "-b", "", "-i", ""},
			changed: true,
		},
		{
			name:    "empty args",
			in:      nil,
			want:    []string{"-b", "", "-i", ""},
			changed: true,
		},
		{
			name:    "a flag without its value gets one",
			in:      []string{"-i", "", "-b"},
			want:    []string{"-i", "", "-b", ""},
			changed: true,
		},
		{
			name:    "arguments after -- stay last and untouched",
			in:      []string{"-b", "*", "--", "-i", "x"},
			want:    []string{"-b", "", "-i", "", "--", "-i", "x"},
			changed: true,
		},
		{
			name: "long flags that only share a prefix are not touched",
			in:   []string{"-i", "", "-b", "", "--istio-inbound-portsx", "--istio-service-cidrs=x", "-x", ""},
			want: []string{"-i", "", "-b", "", "--istio-inbound-portsx", "--istio-service-cidrs=x", "-x", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]string(nil), tt.in...)
			got, changed := RewriteIptablesArgs(in)
			assert.Equal(t, tt.changed, changed)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, in, "the input is not modified")
			again, changedAgain := RewriteIptablesArgs(got)
			assert.False(t, changedAgain, "rewriting twice changes nothing")
			assert.Equal(t, got, again)
		})
	}
}
