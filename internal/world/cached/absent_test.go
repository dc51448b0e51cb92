package cached

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAbsentMemo(t *testing.T) {
	pa := schema.GroupVersionKind{Group: "security.istio.io", Version: "v1", Kind: "PeerAuthentication"}
	module := schema.GroupVersionKind{Group: "getambassador.io", Version: "v2", Kind: "Module"}
	tests := []struct {
		name string
		// do runs between the live list (generation taken) and the lookup.
		do   func(m *absentMemo, gen uint64)
		ttl  time.Duration
		want bool
	}{
		{name: "an empty list is remembered", do: func(m *absentMemo, gen uint64) { m.remember(pa, "namespace=shop", gen) }, ttl: time.Minute, want: true},
		{name: "another selection is not", do: func(m *absentMemo, gen uint64) { m.remember(pa, "namespace=other", gen) }, ttl: time.Minute},
		{name: "an event of the kind forgets it", do: func(m *absentMemo, gen uint64) {
			m.remember(pa, "namespace=shop", gen)
			m.changed(pa)
		}, ttl: time.Minute},
		{name: "an event during the live list means it is not trusted", do: func(m *absentMemo, gen uint64) {
			m.changed(pa)
			m.remember(pa, "namespace=shop", gen)
		}, ttl: time.Minute},
		{name: "an event of another kind does not matter", do: func(m *absentMemo, gen uint64) {
			m.remember(pa, "namespace=shop", gen)
			m.changed(module)
		}, ttl: time.Minute, want: true},
		{name: "it expires", do: func(m *absentMemo, gen uint64) { m.remember(pa, "namespace=shop", gen) }, ttl: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &absentMemo{ttl: tt.ttl, gen: map[schema.GroupVersionKind]uint64{}, seen: map[string]absentEntry{}}
			tt.do(m, m.generation(pa))
			assert.Equal(t, tt.want, m.known(pa, "namespace=shop"))
		})
	}
}
