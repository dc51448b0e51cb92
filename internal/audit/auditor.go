package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/meshgate/meshgate/internal/engine"
	"github.com/meshgate/meshgate/internal/live"
	"github.com/meshgate/meshgate/internal/policy"
)

// Options configure the continuous audit of `meshgate serve`.
type Options struct {
	// Interval between audits; 0 turns the audit off.
	Interval time.Duration
	// Format is FormatOpenReports (default) or FormatPolicyReport.
	Format string
	// Workers bounds the reviews and the report writes in flight (default 2).
	Workers int
	// WritesPerSecond paces the report writes (default 20; negative: not paced).
	WritesPerSecond float64
}

// Auditor re-runs the engine over every reviewed object every Interval and
// keeps one report per resource. It is a manager.Runnable that needs leader
// election: one replica audits.
type Auditor struct {
	opts    Options
	eng     *engine.Engine
	world   policy.World
	ready   func() bool
	reader  *live.Reader
	mapper  meta.RESTMapper
	writer  *Writer
	metrics *Metrics
	log     logr.Logger
}

// NewAuditor returns an Auditor that reviews with cfg in w (once ready says
// the World is synced), reading objects and writing reports through dyn.
func NewAuditor(o Options, cfg *policy.Config, w policy.World, ready func() bool, dyn dynamic.Interface, mapper meta.RESTMapper, m *Metrics, log logr.Logger) (*Auditor, error) {
	kinds, err := KindsOf(o.Format)
	if err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.WritesPerSecond == 0 {
		o.WritesPerSecond = 20
	}
	var lim *rate.Limiter
	if o.WritesPerSecond > 0 {
		lim = rate.NewLimiter(rate.Limit(o.WritesPerSecond), 1)
	}
	if ready == nil {
		ready = func() bool { return true }
	}
	return &Auditor{
		opts: o, eng: engine.New(cfg), world: w, ready: ready,
		reader: live.NewReader(dyn, mapper), mapper: mapper,
		writer:  &Writer{Dynamic: dyn, Kinds: kinds, Workers: o.Workers, Limiter: lim},
		metrics: m, log: log,
	}, nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: only the
// leader audits.
func (a *Auditor) NeedLeaderElection() bool { return true }

// Start audits every Interval until ctx is done (the first audit once the
// World has synced). It implements manager.Runnable.
func (a *Auditor) Start(ctx context.Context) error {
	for !a.ready() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	for {
		if _, err := a.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error(err, "audit failed; retrying at the next interval")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(a.opts.Interval):
		}
	}
}

// Stats is what one audit did.
type Stats struct {
	Objects   int
	Resources int
	Findings  int
	Writes    Writes
	// Lists counts the list calls (pages) that read the objects.
	Lists    int64
	Duration time.Duration
	// ReportsSkipped: the report CRD is not installed, nothing was written.
	ReportsSkipped bool
}

// Run audits once: list every reviewed kind, review, write the reports.
func (a *Auditor) Run(ctx context.Context) (Stats, error) {
	start := time.Now()
	var st Stats
	before := a.reader.Calls()
	read, err := a.reader.ReadReviewed(ctx, "")
	st.Lists = a.reader.Calls() - before
	if err != nil {
		a.metrics.failed()
		return st, err
	}
	for _, w := range read.Warnings {
		a.log.Info("audit: kind skipped", "reason", w)
	}
	st.Objects = len(read.Objects)
	resources := Review(ctx, a.eng, a.world, read.Objects, a.opts.Workers)
	st.Resources = len(resources)
	a.metrics.observe(resources)
	for _, r := range resources {
		st.Findings += len(r.Findings)
	}

	if _, err := a.mapper.RESTMapping(schema.GroupKind{Group: a.writer.Kinds.Namespaced.Group, Kind: a.writer.Kinds.NamespacedKind}); err != nil {
		if !meta.IsNoMatchError(err) {
			a.metrics.failed()
			return st, fmt.Errorf("look up the report kind: %w", err)
		}
		st.ReportsSkipped = true
		a.log.Info("audit: the report CRD is not installed; no reports written", "resource", a.writer.Kinds.Namespaced.GroupResource().String())
	} else {
		now := time.Now()
		want := make([]*unstructured.Unstructured, 0, len(resources))
		var errs []error
		for _, r := range resources {
			if r.Object.GetUID() == "" {
				continue
			}
			u, err := BuildReport(r, a.opts.Format, now)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			want = append(want, u)
		}
		listed := map[schema.GroupKind]bool{}
		for _, gk := range read.Kinds {
			listed[gk] = true
		}
		audited := func(apiVersion, kind string) bool {
			return listed[schema.FromAPIVersionAndKind(apiVersion, kind).GroupKind()]
		}
		st.Writes, err = a.writer.Sync(ctx, want, audited)
		a.metrics.wrote(st.Writes)
		if err = errors.Join(append(errs, err)...); err != nil {
			a.metrics.failed()
			st.Duration = time.Since(start)
			return st, err
		}
	}
	st.Duration = time.Since(start)
	a.metrics.done(start, st)
	a.log.Info("audit done", "objects", st.Objects, "resources", st.Resources, "findings", st.Findings,
		"created", st.Writes.Created, "updated", st.Writes.Updated, "deleted", st.Writes.Deleted, "unchanged", st.Writes.Unchanged,
		"lists", st.Lists+st.Writes.Lists, "duration", st.Duration)
	return st, nil
}

// Metrics are the meshgate_audit_* metrics. A nil *Metrics records nothing.
type Metrics struct {
	LastRun   prometheus.Gauge
	Duration  prometheus.Gauge
	Runs      *prometheus.CounterVec
	Resources prometheus.Gauge
	Findings  *prometheus.GaugeVec
	Writes    *prometheus.CounterVec
	APICalls  *prometheus.CounterVec
}

// NewMetrics creates the audit's metrics and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		LastRun: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_audit_last_run_timestamp_seconds",
			Help: "When the last successful audit finished (Unix time)."}),
		Duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_audit_duration_seconds",
			Help: "How long the last successful audit took: listing, reviewing and writing reports."}),
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_audit_runs_total",
			Help: "Audits run, by result (success, error)."}, []string{"result"}),
		Resources: prometheus.NewGauge(prometheus.GaugeOpts{Name: "meshgate_audit_resources",
			Help: "Resources the last audit reported on (workloads count once, with their pods)."}),
		Findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "meshgate_audit_findings",
			Help: "Findings of the last audit, by rule, severity (enforce, warn, suppressed) and kind (violation, drift)."}, []string{"rule", "severity", "kind"}),
		Writes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_audit_report_writes_total",
			Help: "Report writes, by operation (create, update, delete); unchanged reports are not written."}, []string{"operation"}),
		APICalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "meshgate_audit_api_calls_total",
			Help: "API calls the audit made, by verb (list pages, create, update, delete)."}, []string{"verb"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.LastRun, m.Duration, m.Runs, m.Resources, m.Findings, m.Writes, m.APICalls} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register the audit metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) failed() {
	if m != nil {
		m.Runs.WithLabelValues("error").Inc()
	}
}

func (m *Metrics) observe(rs []Resource) {
	if m == nil {
		return
	}
	m.Findings.Reset()
	for _, r := range policy.Rules() {
		for _, sev := range []policy.Mode{policy.Enforce, policy.Warn} {
			m.Findings.WithLabelValues(r.ID, string(sev), KindViolation)
			if r.Mutation {
				m.Findings.WithLabelValues(r.ID, string(sev), KindDrift)
			}
		}
	}
	for _, r := range rs {
		for _, f := range r.Findings {
			m.Findings.WithLabelValues(f.Rule, string(f.Mode), f.Kind).Inc()
		}
	}
	m.Resources.Set(float64(len(rs)))
}

func (m *Metrics) wrote(w Writes) {
	if m == nil {
		return
	}
	m.Writes.WithLabelValues("create").Add(float64(w.Created))
	m.Writes.WithLabelValues("update").Add(float64(w.Updated))
	m.Writes.WithLabelValues("delete").Add(float64(w.Deleted))
	m.APICalls.WithLabelValues("create").Add(float64(w.Created))
	m.APICalls.WithLabelValues("update").Add(float64(w.Updated))
	m.APICalls.WithLabelValues("delete").Add(float64(w.Deleted))
	m.APICalls.WithLabelValues("list").Add(float64(w.Lists))
}

func (m *Metrics) done(start time.Time, st Stats) {
	if m == nil {
		return
	}
	m.APICalls.WithLabelValues("list").Add(float64(st.Lists))
	m.Runs.WithLabelValues("success").Inc()
	m.Duration.Set(st.Duration.Seconds())
	m.LastRun.Set(float64(start.Add(st.Duration).Unix()))
}
