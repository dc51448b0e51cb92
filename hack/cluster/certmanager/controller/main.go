// Command controller is cert-manager's controller, assembled from the
// controllers that register themselves in
// github.com/cert-manager/cert-manager/pkg/controller (Known) and its
// context factory (NewContextFactory). It accepts the flags cert-manager's
// chart passes; the ones this build does not act on are listed in ignored.
//
// It differs from upstream's command in what upstream keeps in internal
// packages, which a module outside github.com/cert-manager/cert-manager
// cannot import: the versioned configuration file (--config) and its
// validation, feature gates, and PEM size limits (the defaults apply).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	logsapi "k8s.io/component-base/logs/api/v1"

	"github.com/cert-manager/cert-manager/pkg/controller"
	"github.com/cert-manager/cert-manager/pkg/healthz"
	dnsutil "github.com/cert-manager/cert-manager/pkg/issuer/acme/dns/util"
	logf "github.com/cert-manager/cert-manager/pkg/logs"

	// Controllers: each package registers itself with controller.Register.
	challenges "github.com/cert-manager/cert-manager/pkg/controller/acmechallenges"
	orders "github.com/cert-manager/cert-manager/pkg/controller/acmeorders"
	shimingresses "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	cracme "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/acme"
	crapprover "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	crca "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	crselfsigned "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	crvault "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/vault"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	certmetrics "github.com/cert-manager/cert-manager/pkg/controller/certificates/metrics"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	"github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	clusterissuers "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	issuers "github.com/cert-manager/cert-manager/pkg/controller/issuers"

	// Issuers: each package registers itself with the issuer factory.
	_ "github.com/cert-manager/cert-manager/pkg/issuer/acme"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/vault"
)

// defaultControllers are upstream's default set (without the experimental
// certificate-shim for Gateway API and the CertificateSigningRequest ones).
var defaultControllers = []string{
	issuers.ControllerName, clusterissuers.ControllerName, certmetrics.ControllerName,
	shimingresses.ControllerName, orders.ControllerName, challenges.ControllerName,
	cracme.CRControllerName, crapprover.ControllerName, crca.CRControllerName,
	crselfsigned.CRControllerName, crvault.CRControllerName,
	trigger.ControllerName, issuing.ControllerName, keymanager.ControllerName,
	requestmanager.ControllerName, readiness.ControllerName, revisionmanager.ControllerName,
}

type options struct {
	kubeconfig, apiServerHost, namespace, clusterResourceNamespace string
	leaderElect                                                    bool
	leaderElectionNamespace                                        string
	leaseDuration, renewDeadline, retryPeriod                      time.Duration
	controllers                                                    []string
	workers                                                        int
	metricsAddr, healthzAddr                                       string
	solverImage                                                    string
	maxConcurrentChallenges                                        int
	ignored                                                        []string
}

func main() {
	var o options
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig (default: in-cluster)")
	fs.StringVar(&o.apiServerHost, "master", "", "API server address (overrides the kubeconfig)")
	fs.StringVar(&o.namespace, "namespace", "", "only watch this namespace (default: all)")
	fs.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", "kube-system", "namespace of the Secrets ClusterIssuers use")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "run leader election")
	fs.StringVar(&o.leaderElectionNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	fs.DurationVar(&o.leaseDuration, "leader-election-lease-duration", 60*time.Second, "lease duration")
	fs.DurationVar(&o.renewDeadline, "leader-election-renew-deadline", 40*time.Second, "renew deadline")
	fs.DurationVar(&o.retryPeriod, "leader-election-retry-period", 15*time.Second, "retry period")
	fs.StringSliceVar(&o.controllers, "controllers", []string{"*"}, "controllers to run: * for the default set, name to add, -name to remove")
	fs.IntVar(&o.workers, "concurrent-workers", 5, "workers per controller")
	fs.StringVar(&o.metricsAddr, "metrics-listen-address", "0.0.0.0:9402", "Prometheus metrics address")
	fs.StringVar(&o.healthzAddr, "healthz-listen-address", "0.0.0.0:9403", "/livez address")
	fs.StringVar(&o.solverImage, "acme-http01-solver-image", "quay.io/jetstack/cert-manager-acmesolver:v1.21.2", "ACME HTTP-01 solver image")
	fs.IntVar(&o.maxConcurrentChallenges, "max-concurrent-challenges", 60, "ACME challenges processed at once")
	for _, name := range []string{"config", "feature-gates", "enable-certificate-owner-ref"} {
		fs.String(name, "", "not supported by this build (see the package documentation); ignored")
	}
	logging := logsapi.NewLoggingConfiguration()
	logf.AddFlags(logging, fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := logf.ValidateAndApply(logging); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fs.Visit(func(f *pflag.Flag) {
		if strings.HasPrefix(f.Usage, "not supported") {
			o.ignored = append(o.ignored, f.Name)
		}
	})

	logf.InitLogs()
	defer logf.FlushLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "controller")
	if err := run(ctx, o); err != nil {
		logf.Log.Error(err, "controller failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

// enabled resolves --controllers against the default set.
func enabled(flags []string) (sets.Set[string], error) {
	known := sets.KeySet(controller.Known())
	out := sets.New[string]()
	for _, f := range flags {
		switch {
		case f == "*":
			out.Insert(defaultControllers...)
		case strings.HasPrefix(f, "-"):
			out.Delete(strings.TrimPrefix(f, "-"))
		default:
			out.Insert(f)
		}
	}
	for n := range out {
		if !known.Has(n) {
			return nil, fmt.Errorf("unknown controller %q (known: %s)", n, strings.Join(sets.List(known), ", "))
		}
	}
	return out, nil
}

func run(rootCtx context.Context, o options) error {
	log := logf.FromContext(rootCtx)
	if len(o.ignored) > 0 {
		log.Info("ignoring flags this build does not support", "flags", o.ignored)
	}
	on, err := enabled(o.controllers)
	if err != nil {
		return err
	}
	names := sets.List(on)
	sort.Strings(names)
	log.Info("starting cert-manager controller (assembled from github.com/cert-manager/cert-manager/pkg/controller)", "controllers", names)

	rootCtx, cancel := context.WithCancel(rootCtx)
	defer cancel()
	g, rootCtx := errgroup.WithContext(rootCtx)

	factory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		APIServerHost:      o.apiServerHost,
		KubernetesAPIQPS:   20,
		KubernetesAPIBurst: 50,
		Namespace:          o.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace:        o.clusterResourceNamespace,
			ClusterIssuerAmbientCredentials: true,
		},
		ACMEOptions: controller.ACMEOptions{
			HTTP01SolverImage:                 o.solverImage,
			HTTP01SolverResourceRequestCPU:    resource.MustParse("10m"),
			HTTP01SolverResourceRequestMemory: resource.MustParse("64Mi"),
			HTTP01SolverResourceLimitsCPU:     resource.MustParse("100m"),
			HTTP01SolverResourceLimitsMemory:  resource.MustParse("64Mi"),
			ACMEHTTP01SolverRunAsNonRoot:      true,
			DNS01Nameservers:                  dnsutil.RecursiveNameservers,
			DNS01CheckRetryPeriod:             10 * time.Second,
			DNS01CheckAuthoritative:           true,
		},
		SchedulerOptions: controller.SchedulerOptions{MaxConcurrentChallenges: o.maxConcurrentChallenges},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerKind:  "Issuer",
			DefaultIssuerGroup: "cert-manager.io",
		},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return fmt.Errorf("controller context: %w", err)
	}
	cctx, err := factory.Build()
	if err != nil {
		return fmt.Errorf("build controller context: %w", err)
	}

	var lc net.ListenConfig
	metricsLn, err := lc.Listen(rootCtx, "tcp", o.metricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	cctx.Metrics.SetupCertificateCollector(cctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	cctx.Metrics.SetupIssuerCollector(cctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	metricsServer := cctx.Metrics.NewServer(metricsLn)
	g.Go(func() error {
		if err := metricsServer.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-rootCtx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return metricsServer.Shutdown(shutdown) //nolint:contextcheck // the root context is done
	})

	healthzLn, err := lc.Listen(rootCtx, "tcp", o.healthzAddr)
	if err != nil {
		return fmt.Errorf("healthz listener: %w", err)
	}
	health := healthz.NewServer(20 * time.Second)
	g.Go(func() error { return health.Start(rootCtx, healthzLn) })

	elected := make(chan struct{})
	if o.leaderElect {
		g.Go(func() error {
			lectx, err := factory.Build("leader-election")
			if err != nil {
				return fmt.Errorf("leader election context: %w", err)
			}
			id, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("hostname: %w", err)
			}
			lock, err := resourcelock.NewWithLabels(resourcelock.LeasesResourceLock,
				o.leaderElectionNamespace, "cert-manager-controller",
				lectx.Client.CoreV1(), lectx.Client.CoordinationV1(),
				resourcelock.ResourceLockConfig{Identity: id + "-external-cert-manager-controller", EventRecorder: lectx.Recorder},
				map[string]string{"app.kubernetes.io/managed-by": "cert-manager"})
			if err != nil {
				return fmt.Errorf("leader election lock: %w", err)
			}
			lost := make(chan struct{})
			le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
				Lock: lock, LeaseDuration: o.leaseDuration, RenewDeadline: o.renewDeadline, RetryPeriod: o.retryPeriod,
				ReleaseOnCancel: true, WatchDog: health.LeaderHealthzAdaptor,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { close(elected) },
					OnStoppedLeading: func() { close(lost) },
				},
			})
			if err != nil {
				return fmt.Errorf("leader elector: %w", err)
			}
			le.Run(rootCtx)
			select {
			case <-rootCtx.Done():
				return nil
			case <-lost:
				return errors.New("leader election lost")
			}
		})
	} else {
		close(elected)
	}
	select {
	case <-rootCtx.Done():
		return g.Wait()
	case <-elected:
	}

	for name, newController := range controller.Known() {
		if !on.Has(name) {
			continue
		}
		c, err := newController(factory)
		if err != nil {
			cancel()
			return errors.Join(fmt.Errorf("controller %s: %w", name, err), g.Wait())
		}
		g.Go(func() error { return c.Run(o.workers, rootCtx) })
	}
	cctx.SharedInformerFactory.Start(rootCtx.Done())
	cctx.KubeSharedInformerFactory.Start(rootCtx.Done())
	cctx.HTTP01ResourceMetadataInformersFactory.Start(rootCtx.Done())
	if err := g.Wait(); err != nil {
		return err
	}
	cctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	cctx.KubeSharedInformerFactory.Shutdown()
	cctx.SharedInformerFactory.Shutdown()
	return nil
}
