package cached

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// slowAPIServer is a live reader that answers NotFound after a delay and
// records how many reads it served and how many ran at once.
type slowAPIServer struct {
	delay              time.Duration
	calls, now, maxNow atomic.Int64
}

func (s *slowAPIServer) read() error {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.maxNow.Load()
		if n <= m || s.maxNow.CompareAndSwap(m, n) {
			break
		}
	}
	s.calls.Add(1)
	time.Sleep(s.delay)
	return apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, "x")
}

func (s *slowAPIServer) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return s.read()
}

func (s *slowAPIServer) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return s.read()
}

// countMetrics counts the refused live reads.
type countMetrics struct {
	noMetrics
	throttled atomic.Int64
}

func (m *countMetrics) LiveReadThrottled() { m.throttled.Add(1) }

func TestLiveReadsStayWithinTheirBounds(t *testing.T) {
	cases := []struct {
		name   string
		limits LiveReadLimits
		// wantMaxCalls bounds the reads that reach the API server in the
		// storm; wantMaxAtOnce those at once.
		wantMaxCalls, wantMaxAtOnce int64
	}{
		{"the rate: burst, then QPS", LiveReadLimits{QPS: 10, Burst: 20, MaxInFlight: 100, MaxWait: 200 * time.Millisecond}, 20 + 10*2, 100},
		{"the reads at once", LiveReadLimits{QPS: 0, MaxInFlight: 4, MaxWait: 200 * time.Millisecond}, 1000, 4},
		{"the defaults", DefaultLiveReadLimits(), 50 + 20*3, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := &slowAPIServer{delay: 20 * time.Millisecond}
			m := &countMetrics{}
			r := BoundLiveReads(api, tc.limits, m)
			// A storm of misses: 200 reviews at once, each reading 3 times,
			// for about a second.
			var failed atomic.Int64
			var wg sync.WaitGroup
			deadline := time.Now().Add(time.Second)
			for range 200 {
				wg.Go(func() {
					for i := 0; i < 3 && time.Now().Before(deadline); i++ {
						err := r.Get(context.Background(), client.ObjectKey{Namespace: "apps", Name: "web"}, &corev1.Service{})
						if !apierrors.IsNotFound(err) {
							assert.ErrorContains(t, err, "live read not made")
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			t.Logf("reads made %d, at most %d at once, refused %d", api.calls.Load(), api.maxNow.Load(), failed.Load())
			assert.LessOrEqual(t, api.calls.Load(), tc.wantMaxCalls, "reads made")
			assert.LessOrEqual(t, api.maxNow.Load(), tc.wantMaxAtOnce, "reads at once")
			assert.Positive(t, failed.Load(), "the storm was over the bound")
			assert.Equal(t, failed.Load(), m.throttled.Load(), "each refused read is counted")
		})
	}
	t.Run("no limits: the storm goes through", func(t *testing.T) {
		api := &slowAPIServer{delay: 20 * time.Millisecond}
		r := BoundLiveReads(api, LiveReadLimits{}, nil)
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() { _ = r.Get(context.Background(), client.ObjectKey{Name: "x"}, &corev1.Service{}) })
		}
		wg.Wait()
		assert.Equal(t, int64(200), api.calls.Load())
	})
}
