// Command cainjector is cert-manager's CA injector, assembled from
// github.com/cert-manager/cert-manager/pkg/controller/cainjector
// (RegisterAllInjectors on a controller-runtime manager). It accepts the flags
// cert-manager's chart passes. Unlike upstream's command it has no versioned
// configuration file (--config) and no feature gates: both live in internal
// packages of cert-manager that a module outside it cannot import.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	cmscheme "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned/scheme"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	logsapi "k8s.io/component-base/logs/api/v1"
	apireg "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

func main() {
	var (
		kubeconfig, namespace, leNamespace, metricsAddr string
		leaderElect, certificates                       bool
		lease, renew, retry                             time.Duration
	)
	fs := pflag.NewFlagSet("cainjector", pflag.ContinueOnError)
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig (default: in-cluster)")
	fs.StringVar(&namespace, "namespace", "", "only watch this namespace (default: all)")
	fs.BoolVar(&leaderElect, "leader-elect", true, "run leader election")
	fs.StringVar(&leNamespace, "leader-election-namespace", "kube-system", "namespace of the leader election Lease")
	fs.DurationVar(&lease, "leader-election-lease-duration", 60*time.Second, "lease duration")
	fs.DurationVar(&renew, "leader-election-renew-deadline", 40*time.Second, "renew deadline")
	fs.DurationVar(&retry, "leader-election-retry-period", 15*time.Second, "retry period")
	fs.BoolVar(&certificates, "enable-certificates-data-source", true, "inject from cert-manager Certificates (cert-manager.io/inject-ca-from)")
	fs.StringVar(&metricsAddr, "metrics-listen-address", "0.0.0.0:9402", "Prometheus metrics address")
	var ignored []string
	for _, name := range []string{"config", "feature-gates"} {
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
			ignored = append(ignored, f.Name)
		}
	})
	logf.InitLogs()
	defer logf.FlushLogs()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, logf.Log, "cainjector")
	log := logf.FromContext(ctx)
	if len(ignored) > 0 {
		log.Info("ignoring flags this build does not support", "flags", ignored)
	}

	err := func() error {
		var cfg = ctrl.GetConfigOrDie()
		if kubeconfig != "" {
			c, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig: %w", err)
			}
			cfg = c
		}
		cfg.UserAgent = "cainjector"
		var namespaces map[string]cache.Config
		if namespace != "" {
			namespaces = map[string]cache.Config{namespace: {}}
		}
		scheme := runtime.NewScheme()
		utilruntime.Must(kscheme.AddToScheme(scheme))
		utilruntime.Must(cmscheme.AddToScheme(scheme))
		utilruntime.Must(apiext.AddToScheme(scheme))
		utilruntime.Must(apireg.AddToScheme(scheme))
		mgr, err := ctrl.NewManager(cfg, ctrl.Options{
			Scheme: scheme,
			Cache:  cache.Options{ReaderFailOnMissingInformer: true, DefaultNamespaces: namespaces},
			// Secrets are read directly, never cached, as upstream does.
			Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
			LeaderElection:                leaderElect,
			LeaderElectionNamespace:       leNamespace,
			LeaderElectionID:              "cert-manager-cainjector-leader-election",
			LeaderElectionReleaseOnCancel: true,
			LeaderElectionResourceLock:    resourcelock.LeasesResourceLock,
			LeaseDuration:                 &lease,
			RenewDeadline:                 &renew,
			RetryPeriod:                   &retry,
			Metrics:                       metricsserver.Options{BindAddress: metricsAddr},
		})
		if err != nil {
			return fmt.Errorf("manager: %w", err)
		}
		if certificates {
			direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
			if err != nil {
				return fmt.Errorf("client: %w", err)
			}
			if err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
				err := direct.Get(ctx, types.NamespacedName{Name: "certificates.cert-manager.io"}, &apiext.CustomResourceDefinition{})
				if apierrors.IsNotFound(err) {
					log.Info("waiting for the certificates.cert-manager.io CRD")
					return false, nil
				}
				return err == nil, err
			}); err != nil {
				return fmt.Errorf("certificates.cert-manager.io CRD: %w", err)
			}
		}
		if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
			Namespace:                    namespace,
			EnableCertificatesDataSource: certificates,
			EnabledReconcilersFor: map[string]bool{
				cainjector.MutatingWebhookConfigurationName:   true,
				cainjector.ValidatingWebhookConfigurationName: true,
				cainjector.APIServiceName:                     true,
				cainjector.CustomResourceDefinitionName:       true,
			},
		}); err != nil {
			return fmt.Errorf("register injectors: %w", err)
		}
		return mgr.Start(ctx)
	}()
	if err != nil {
		log.Error(err, "cainjector failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}
