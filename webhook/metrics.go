package webhook

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world/cached"
)

// Metrics are meshgate's own Prometheus metrics; controller-runtime's webhook
// metrics (requests, latency, in flight, panics) come with the Server. A nil
// *Metrics records nothing.
type Metrics struct {
	// Reviews counts the requests the engine reviewed, by handler direction and kind.
	Reviews *prometheus.CounterVec
	// Findings counts the findings surfaced (denials and warnings), by rule, mode and kind.
	Findings *prometheus.CounterVec
	// Changes counts the changes the mutations made, by rule and kind.
	Changes *prometheus.CounterVec
	// KindAvailable is 1 when the World holds a kind (its CRD is installed and
	// its cache synced), 0 otherwise.
	KindAvailable *prometheus.GaugeVec
	// RuleDegraded is 1 for each rule and World kind it needs that is not
	// available (the rule runs without that knowledge), 0 otherwise.
	RuleDegraded *prometheus.GaugeVec
	// LiveReads counts the World lookups the cache could not answer and that
	// were read from the API server instead, by World kind.
	LiveReads *prometheus.CounterVec
	// ReviewErrors counts the reviews that failed because the World could not
	// answer (the API server then applies the webhook's failurePolicy), by
	// webhook direction and object kind.
	ReviewErrors *prometheus.CounterVec
	// Refused counts the requests and connections refused over a limit of
	// the webhook port (Limits), by reason.
	Refused *prometheus.CounterVec
	// BodyBytes is the bytes request bodies hold (Limits.MaxBodyBytesInFlight).
	BodyBytes prometheus.Gauge
	// LiveReadsThrottled counts the live reads refused over their limits
	// (cached.LiveReadLimits); their reviews fail.
	LiveReadsThrottled prometheus.Counter
}

// NewMetrics creates meshgate's metrics and registers them with reg (for the
// server: controller-runtime's metrics.Registry). A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_reviews_total",
			Help: "Admission requests reviewed by meshgate's engine, by webhook direction and object kind.",
		}, []string{"direction", "kind"}),
		Findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_findings_total",
			Help: "Findings returned to the API server (denials and warnings), by rule, mode and object kind.",
		}, []string{"rule", "mode", "kind"}),
		Changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_changes_total",
			Help: "Changes made by meshgate's mutations, by rule and object kind.",
		}, []string{"rule", "kind"}),
		KindAvailable: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshgate_world_kind_available",
			Help: "1 when the World holds this kind of object (CRD installed, cache synced), else 0.",
		}, []string{"kind"}),
		RuleDegraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "meshgate_rule_degraded",
			Help: "1 when a rule runs without a World kind it needs (its CRD is not installed), else 0.",
		}, []string{"rule", "kind"}),
		LiveReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_world_live_reads_total",
			Help: "World lookups that missed the cache and were read from the API server, by kind.",
		}, []string{"kind"}),
		ReviewErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_review_errors_total",
			Help: "Reviews that failed (the World could not answer, or the object could not be read), by webhook direction and object kind.",
		}, []string{"direction", "kind"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "meshgate_requests_refused_total",
			Help: "Requests (and connections) of the webhook port refused over a limit, by reason.",
		}, []string{"reason"}),
		BodyBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "meshgate_request_body_bytes",
			Help: "Bytes held by the request bodies being read or reviewed.",
		}),
		LiveReadsThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "meshgate_world_live_reads_throttled_total",
			Help: "Live reads from the API server refused over their rate or concurrency limit (the review fails).",
		}),
	}
	for _, r := range []string{refusedTooLarge, refusedBodyBytes, refusedReviews, refusedSlowBody, refusedUnreadable, refusedConnections} {
		m.Refused.WithLabelValues(r)
	}
	// Every registered rule's series exist from the start, at 0, so that
	// dashboards and alerts know each rule before it first fires.
	for _, r := range policy.Rules() {
		for _, rv := range r.Reviews {
			for _, k := range rv.Kinds {
				if len(k.Operations) == 0 {
					continue // not sent to the admission server
				}
				m.Findings.WithLabelValues(r.ID, string(policy.Enforce), k.Kind)
				m.Findings.WithLabelValues(r.ID, string(policy.Warn), k.Kind)
				if r.Mutation {
					m.Changes.WithLabelValues(r.ID, k.Kind)
				}
			}
		}
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.Reviews, err = register(reg, m.Reviews); err != nil {
		return nil, err
	}
	if m.Findings, err = register(reg, m.Findings); err != nil {
		return nil, err
	}
	if m.Changes, err = register(reg, m.Changes); err != nil {
		return nil, err
	}
	if m.KindAvailable, err = register(reg, m.KindAvailable); err != nil {
		return nil, err
	}
	if m.RuleDegraded, err = register(reg, m.RuleDegraded); err != nil {
		return nil, err
	}
	if m.LiveReads, err = register(reg, m.LiveReads); err != nil {
		return nil, err
	}
	if m.ReviewErrors, err = register(reg, m.ReviewErrors); err != nil {
		return nil, err
	}
	if m.Refused, err = register(reg, m.Refused); err != nil {
		return nil, err
	}
	if m.BodyBytes, err = register(reg, m.BodyBytes); err != nil {
		return nil, err
	}
	if m.LiveReadsThrottled, err = register(reg, m.LiveReadsThrottled); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under its
// name (a second server in the same process shares the counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("register meshgate metrics: %w", err)
	}
	return c, nil
}

func (m *Metrics) reviewed(dir Direction, kind string) {
	if m == nil {
		return
	}
	m.Reviews.WithLabelValues(string(dir), kind).Inc()
}

func (m *Metrics) found(kind string, fs []policy.Finding) {
	if m == nil {
		return
	}
	for _, f := range fs {
		m.Findings.WithLabelValues(f.Rule, string(f.Mode), kind).Inc()
	}
}

func (m *Metrics) changed(kind string, cs []policy.Change) {
	if m == nil {
		return
	}
	for _, c := range cs {
		m.Changes.WithLabelValues(c.Rule, kind).Inc()
	}
}

var _ cached.Metrics = (*Metrics)(nil)

// SetKindAvailable records whether kind is available, and, for a kind served
// by a CRD, the rules that read it and run without it while it is not.
func (m *Metrics) SetKindAvailable(kind policy.WorldKind, available bool) {
	if m == nil {
		return
	}
	v := 0.0
	if available {
		v = 1
	}
	m.KindAvailable.WithLabelValues(string(kind)).Set(v)
	if !servedByCRD(kind) {
		return
	}
	for _, rule := range policy.RulesReading(kind) {
		m.RuleDegraded.WithLabelValues(rule, string(kind)).Set(1 - v)
	}
}

// LiveRead counts a World read of kind from the API server.
func (m *Metrics) LiveRead(kind string) {
	if m == nil {
		return
	}
	m.LiveReads.WithLabelValues(kind).Inc()
}

func (m *Metrics) reviewFailed(dir Direction, kind string) {
	if m == nil {
		return
	}
	m.ReviewErrors.WithLabelValues(string(dir), kind).Inc()
}

func (m *Metrics) refused(reason string) {
	if m == nil {
		return
	}
	m.Refused.WithLabelValues(reason).Inc()
}

func (m *Metrics) addBodyBytes(n int64) {
	if m == nil {
		return
	}
	m.BodyBytes.Add(float64(n))
}

// LiveReadThrottled counts a World read from the API server not made.
func (m *Metrics) LiveReadThrottled() {
	if m == nil {
		return
	}
	m.LiveReadsThrottled.Inc()
}

// servedByCRD reports whether World kind kind comes from a CRD (and so may be
// missing).
func servedByCRD(kind policy.WorldKind) bool {
	ks, _ := policy.LookupWorldKind(kind)
	for _, k := range ks {
		if k.CRD != "" {
			return true
		}
	}
	return false
}
