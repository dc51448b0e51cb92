package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/meshgate/meshgate/internal/audit"
	"github.com/meshgate/meshgate/internal/policy"
	"github.com/meshgate/meshgate/internal/world/cached"
	"github.com/meshgate/meshgate/webhook"
)

// newServeCommand runs the admission server (see docs/server.md).
func newServeCommand() *cobra.Command {
	o := webhook.Options{}
	limits, live := webhook.DefaultLimits(), cached.DefaultLiveReadLimits()
	o.Limits, o.LiveReads = &limits, &live
	var configPath string
	zapOpts := zap.Options{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the admission webhook server",
		Long: `Run meshgate's admission webhook server: mutating (/mutate) and validating
(/validate) handlers over TLS, /healthz and /readyz on the health probe address,
Prometheus metrics on the metrics address. See docs/server.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := policy.LoadConfig(configPath)
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			if _, err := webhook.ParseTLSVersion(o.TLSMinVersion); err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			if _, err := audit.KindsOf(o.Audit.Format); err != nil {
				return &exitError{code: exitBadInput, err: fmt.Errorf("--audit-format: %w", err)}
			}
			o.Config = cfg
			log := zap.New(zap.UseFlagOptions(&zapOpts))
			ctrl.SetLogger(log)
			o.Logger = log.WithName("meshgate")
			logMemoryLimit(o.Logger, memlimit.FromCgroup)
			restCfg, err := config.GetConfig()
			if err != nil {
				return &exitError{code: exitBadInput, err: fmt.Errorf("kubeconfig: %w", err)}
			}
			srv, err := webhook.NewServer(restCfg, o)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				// After the first signal the server drains; a second one
				// ends the process at once.
				<-ctx.Done()
				stop()
			}()
			o.Logger.Info("starting", "version", version, "port", o.Port, "certDir", o.CertDir)
			return srv.Start(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding tls.crt and tls.key (reloaded when they change)")
	f.StringVar(&o.Host, "host", "", "address the webhook server listens on (empty: all)")
	f.IntVar(&o.Port, "port", 9443, "webhook server port")
	f.StringVar(&configPath, "config", "", "meshgate configuration file (defaults when empty)")
	f.StringVar(&o.MetricsBindAddress, "metrics-bind-address", ":8443", `Prometheus metrics address ("0" disables)`)
	f.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve metrics over HTTPS to clients the API server authenticates and authorizes (get on the /metrics non-resource URL); false: plain HTTP, no authentication")
	f.StringVar(&o.MetricsCertDir, "metrics-cert-path", "", "directory holding the metrics server's tls.crt and tls.key (empty: a self-signed certificate)")
	f.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `/healthz and /readyz address ("0" disables)`)
	f.StringVar(&o.TLSMinVersion, "tls-min-version", "1.3", "minimum TLS version: 1.3 or 1.2 (then ECDHE with AES-GCM or ChaCha20-Poly1305 only)")
	f.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM CA bundle: require client certificates signed by it on the webhook port (the API server's admission kubeconfig must present one)")
	f.DurationVar(&limits.ReadHeaderTimeout, "read-header-timeout", limits.ReadHeaderTimeout, "webhook port: time for the TLS handshake and a request's headers")
	f.DurationVar(&limits.ReadBodyTimeout, "read-body-timeout", limits.ReadBodyTimeout, "webhook port: time for a request's body once its headers arrived (0: none)")
	f.DurationVar(&limits.IdleTimeout, "idle-timeout", limits.IdleTimeout, "webhook port: close kept-alive connections idle this long")
	f.Int64Var(&limits.MaxRequestBytes, "max-request-bytes", limits.MaxRequestBytes, "webhook port: largest request body (at most 7 MiB)")
	f.Int64Var(&limits.MaxBodyBytesInFlight, "max-body-bytes-in-flight", limits.MaxBodyBytesInFlight, "webhook port: bytes all request bodies may hold at once; over it: 429 (0: no limit)")
	f.IntVar(&limits.MaxReviewsInFlight, "max-reviews-in-flight", limits.MaxReviewsInFlight, "webhook port: reviews answered at once; over it: 429 (0: no limit)")
	f.IntVar(&limits.MaxConnections, "max-connections", limits.MaxConnections, "webhook port: open connections; over it a new one is closed (0: no limit)")
	f.Float64Var(&live.QPS, "live-read-qps", live.QPS, "reads per second from the API server on cache misses (0: no limit)")
	f.IntVar(&live.Burst, "live-read-burst", live.Burst, "burst above --live-read-qps")
	f.IntVar(&live.MaxInFlight, "max-live-reads-in-flight", live.MaxInFlight, "reads from the API server on cache misses at once (0: no limit)")
	f.BoolVar(&o.EnableHTTP2, "enable-http2", false, "serve HTTP/2 too (off by default)")
	f.StringVar(&o.ServiceAccount, "service-account", os.Getenv("MESHGATE_SERVICE_ACCOUNT"), "meshgate's own service account: its requests pass untouched (default $MESHGATE_SERVICE_ACCOUNT)")
	f.StringVar(&o.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "meshgate's own namespace: objects in it pass untouched (default $POD_NAMESPACE)")
	f.DurationVar(&o.DrainDelay, "drain-delay", 0, "once asked to stop, keep answering this long while not ready, closing each connection after its next answer, then shut down")
	f.DurationVar(&o.Audit.Interval, "audit-interval", 0, "audit every object the rules review this often and write one report per resource (0: off); one replica audits (leader election, Lease "+webhook.AuditLeaseName+" in --namespace)")
	f.StringVar(&o.Audit.Format, "audit-format", audit.FormatOpenReports, "report kind the audit writes: "+strings.Join(audit.Formats, ", ")+" (openreports.io/v1alpha1 Report, or wgpolicyk8s.io/v1alpha2 PolicyReport); written only when its CRD is installed")
	f.IntVar(&o.Audit.Workers, "audit-workers", 2, "reviews and report writes the audit runs at once")
	f.Float64Var(&o.Audit.WritesPerSecond, "audit-writes-per-second", 20, "pace of the audit's report writes (only changed reports are written)")
	f.DurationVar(&o.CRDResync, "crd-resync", 30*time.Second, "how often CRDs are re-checked besides watch events")
	gofs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.RegisterFlags(gofs)
	zapOpts.BindFlags(gofs)
	f.AddGoFlagSet(gofs)
	return cmd
}

// memoryLimitRatio is the share of the container's memory limit the Go
// runtime's soft limit (GOMEMLIMIT) is set to; the rest is headroom for what
// the runtime does not count (thread stacks, the binary, page cache).
const memoryLimitRatio = 0.9

// setMemoryLimit sets the Go runtime's soft memory limit to memoryLimitRatio
// of the limit limits reports (the container's cgroup memory limit), so the
// garbage collector works harder before the kernel's OOM killer would: the
// standard automemlimit library, as Prometheus uses it. An explicit GOMEMLIMIT
// wins; AUTOMEMLIMIT sets another ratio, or "off". It returns the limit in
// force (math.MaxInt64: none).
func setMemoryLimit(limits memlimit.Provider) (int64, error) {
	limit, err := memlimit.Set(memlimit.WithRatio(memoryLimitRatio), memlimit.WithProvider(limits))
	if err != nil {
		return limit, fmt.Errorf("set GOMEMLIMIT from the memory limit: %w", err)
	}
	return limit, nil
}

// logMemoryLimit sets the memory limit and says which one is in force.
func logMemoryLimit(log logr.Logger, limits memlimit.Provider) {
	limit, err := setMemoryLimit(limits)
	switch {
	case err != nil:
		log.Info("no GOMEMLIMIT from the container's memory limit", "reason", err.Error())
	case limit == math.MaxInt64:
		log.Info("no memory limit: GOMEMLIMIT not set")
	default:
		log.Info("Go memory limit", "GOMEMLIMIT", limit)
	}
}
