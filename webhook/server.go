package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world/cached"
)

// Options configure the admission server.
type Options struct {
	// Host is the address the webhook server listens on ("" = all).
	Host string
	// Port is the webhook server's port (default 9443).
	Port int
	// CertDir holds tls.crt and tls.key; both are reloaded when they change.
	CertDir string
	// TLSMinVersion is "1.3" (default) or "1.2" (then with AEAD cipher
	// suites only).
	TLSMinVersion string
	// ClientCAFile, when set, makes the webhook port require a client
	// certificate signed by one of the CAs in this PEM file (the API server's,
	// from its admission configuration).
	ClientCAFile string
	// Limits bound what clients of the webhook port can make it hold (nil:
	// DefaultLimits).
	Limits *Limits
	// LiveReads bound the World's reads from the API server on cache misses
	// (nil: DefaultLiveReadLimits).
	LiveReads *cached.LiveReadLimits
	// EnableHTTP2 serves HTTP/2 as well as HTTP/1.1 (off by default: HTTP/2
	// rapid-reset and stream-cancellation issues).
	EnableHTTP2 bool
	// MetricsBindAddress serves Prometheus metrics ("0" disables).
	MetricsBindAddress string
	// MetricsSecure serves the metrics over HTTPS to authenticated and
	// authorized clients only (a TokenReview and a SubjectAccessReview per
	// client, cached); `meshgate serve` turns it on unless told otherwise.
	MetricsSecure bool
	// MetricsCertDir holds the metrics server's tls.crt and tls.key (empty or
	// absent: a self-signed certificate).
	MetricsCertDir string
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables).
	HealthProbeBindAddress string
	// Config is the rule configuration (nil: defaults).
	Config *policy.Config
	// ServiceAccount and Namespace are meshgate's own: requests from that
	// service account and objects in that namespace pass untouched.
	ServiceAccount string
	Namespace      string
	// CRDResync is how often CRDs are re-checked without an event (default 30s).
	CRDResync time.Duration
	// Observer is told about every answered review (optional).
	Observer func(Observation)
	// Logger is the server's logger (default: controller-runtime's global one).
	Logger logr.Logger
	// Registry receives meshgate's metrics (default: controller-runtime's
	// metrics.Registry, which the metrics endpoint serves).
	Registry prometheus.Registerer
	// Audit configures the continuous audit (off when Audit.Interval is 0).
	// It runs on the replica that holds the Lease "meshgate-audit" in
	// Namespace.
	Audit audit.Options
	// DrainDelay is how long the server keeps answering, not ready and closing
	// each connection after its next answer, once asked to stop (0: stop at
	// once).
	DrainDelay time.Duration
}

// Server is meshgate's admission server: a controller-runtime manager with
// the webhook server, the World's cache, metrics, health and readiness.
type Server struct {
	mgr        manager.Manager
	world      *cached.World
	metrics    *Metrics
	drain      *drain
	drainDelay time.Duration
}

// ParseTLSVersion reads "1.3" (the default, "") or "1.2" (also
// "VersionTLS13", "VersionTLS12").
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "", "1.3", "VersionTLS13":
		return tls.VersionTLS13, nil
	case "1.2", "VersionTLS12":
		return tls.VersionTLS12, nil
	}
	return 0, fmt.Errorf("unsupported TLS minimum version %q (want 1.3 or 1.2)", s)
}

// AEADCipherSuites are the TLS 1.2 cipher suites the servers accept: ECDHE
// key exchange with AES-GCM or ChaCha20-Poly1305 (TLS 1.3 has only AEAD
// suites).
var AEADCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSOptions returns the servers' TLS settings: minimum version, AEAD cipher
// suites only and, unless enabled, no HTTP/2.
func TLSOptions(minVersion uint16, enableHTTP2 bool) []func(*tls.Config) {
	return []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = minVersion
		c.CipherSuites = AEADCipherSuites
		if !enableHTTP2 {
			c.NextProtos = []string{"http/1.1"}
		}
	}}
}

// NewServer builds the server against the API server of cfg.
func NewServer(cfg *rest.Config, o Options) (*Server, error) {
	minTLS, err := ParseTLSVersion(o.TLSMinVersion)
	if err != nil {
		return nil, err
	}
	if o.Config == nil {
		o.Config = policy.DefaultConfig()
	}
	if o.Registry == nil {
		o.Registry = ctrlmetrics.Registry
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.MetricsBindAddress == "" {
		o.MetricsBindAddress = "0"
	}
	if o.HealthProbeBindAddress == "" {
		o.HealthProbeBindAddress = "0"
	}
	limits := DefaultLimits()
	if o.Limits != nil {
		limits = *o.Limits
	}
	liveLimits := cached.DefaultLiveReadLimits()
	if o.LiveReads != nil {
		liveLimits = *o.LiveReads
	}
	metrics, err := NewMetrics(o.Registry)
	if err != nil {
		return nil, err
	}
	reqLog := clientLogger(o.Logger.WithName("webhook"))
	tlsOpts := TLSOptions(minTLS, o.EnableHTTP2)
	hooks := newHookServer(hookServerOptions{
		Host: o.Host, Port: o.Port, CertDir: o.CertDir, TLSOpts: tlsOpts, ClientCAFile: o.ClientCAFile,
		Limits: limits, Metrics: metrics, Log: o.Logger.WithName("webhook"), RequestLog: reqLog,
	})
	mo := metricsserver.Options{BindAddress: o.MetricsBindAddress}
	if o.MetricsSecure {
		mo.SecureServing = true
		mo.FilterProvider = filters.WithAuthenticationAndAuthorization
		mo.TLSOpts = tlsOpts
		mo.CertDir = o.MetricsCertDir
	}
	mgr, err := manager.New(cfg, manager.Options{
		Logger:                 o.Logger,
		Cache:                  cached.CacheOptions(),
		Metrics:                mo,
		HealthProbeBindAddress: o.HealthProbeBindAddress,
		WebhookServer:          hooks,
		// Only the audit needs a leader; the webhooks run on every replica.
		LeaderElection:                o.Audit.Interval > 0,
		LeaderElectionID:              AuditLeaseName,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create the manager: %w", err)
	}
	// The manager runs its webhook server only once asked for it.
	_ = mgr.GetWebhookServer()
	w := cached.New(mgr.GetCache(), mgr.GetRESTMapper(), cached.Options{
		Metrics: metrics, Log: o.Logger.WithName("world"), Resync: o.CRDResync,
		Live: cached.BoundLiveReads(mgr.GetAPIReader(), liveLimits, metrics),
	})
	if err := mgr.Add(w); err != nil {
		return nil, fmt.Errorf("add the World: %w", err)
	}
	if err := addAuditor(mgr, o, w); err != nil {
		return nil, err
	}
	d := &drain{}
	ho := HandlerOptions{
		Config: o.Config, World: w, ServiceAccount: ServiceAccountUser(o.Namespace, o.ServiceAccount),
		Namespace: o.Namespace, Metrics: metrics, Observer: o.Observer,
	}
	lim := newLimiter(limits, metrics, reqLog)
	for path, dir := range map[string]Direction{MutatePath: Mutating, ValidatePath: Validating} {
		h, err := NewHandler(dir, ho)
		if err != nil {
			return nil, err
		}
		hooks.Register(path, serveReviews(h, d, lim, reqLog))
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", hooks.StartedChecker()); err != nil {
		return nil, fmt.Errorf("add readyz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("world", w.ReadyCheck); err != nil {
		return nil, fmt.Errorf("add readyz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("draining", d.readyCheck); err != nil {
		return nil, fmt.Errorf("add readyz check: %w", err)
	}
	return &Server{mgr: mgr, world: w, metrics: metrics, drain: d, drainDelay: o.DrainDelay}, nil
}

// serveReviews is the HTTP handler of one webhook path: draining, the
// request limits, failing closed, and controller-runtime's admission.Webhook
// (decoding, body checks, panics recovered) whose client errors go to reqLog.
func serveReviews(h admission.Handler, d *drain, lim *limiter, reqLog logr.Logger) http.Handler {
	return d.wrap(lim.wrap(failClosed(&admission.Webhook{Handler: h, LogConstructor: admissionLog(reqLog)})))
}

// Start runs the server until ctx is done and, after that, for the drain
// delay (Options.DrainDelay) during which it answers but is not ready and
// closes each connection after its next answer; then it shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	ctx, cancel := s.drain.after(ctx, s.drainDelay)
	defer cancel()
	if err := s.mgr.Start(ctx); err != nil {
		return fmt.Errorf("meshgate server: %w", err)
	}
	return nil
}

// World returns the server's cache-backed World.
func (s *Server) World() *cached.World { return s.world }

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }
