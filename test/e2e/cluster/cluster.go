// Package cluster starts a local control plane (a real kube-apiserver and etcd,
// through controller-runtime's envtest) with the CRDs meshgate's rules read,
// runs meshgate's admission server in-process against it and registers its
// webhooks. The end-to-end tests and `make demo` share it.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/meshgate/meshgate/webhook"
)

// Environment variables that locate the control plane's binaries and CRDs
// (the Makefile exports both).
const (
	AssetsEnv = "KUBEBUILDER_ASSETS"
	CRDsEnv   = "MESHGATE_CRDS"
)

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Assets returns the directory holding kube-apiserver, etcd and kubectl:
// $KUBEBUILDER_ASSETS, else bin/k8s in the repository. It is an error when the
// binaries are not there (build them with `make control-plane`).
func Assets() (string, error) {
	dir := os.Getenv(AssetsEnv)
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "k8s")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("no %s in %s (%s): build the local control plane with `make control-plane`: %w", bin, dir, AssetsEnv, err)
		}
	}
	return dir, nil
}

// CRDDir returns the directory of one set of real CRDs (gateway-api, istio,
// cert-manager) under $MESHGATE_CRDS, else bin/crds in the repository.
func CRDDir(set string) string {
	dir := os.Getenv(CRDsEnv)
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "bin", "crds")
	}
	return filepath.Join(dir, set)
}

// EmissaryCRDDir holds the Mapping and TLSContext CRDs written for the tests.
func EmissaryCRDDir() string { return filepath.Join(RepoRoot(), "test", "crds", "emissary") }

// Options configure Start.
type Options struct {
	// CRDDirs are installed before meshgate starts (default: Istio,
	// cert-manager, Emissary and the Gateway API).
	CRDDirs []string
	// Meshgate configures the admission server; Host, Port, CertDir and the
	// probe and metrics addresses are filled in.
	Meshgate webhook.Options
	// ObjectSelector limits the registered webhooks (optional).
	ObjectSelector *metav1.LabelSelector
	// Unregistered runs meshgate without registering its webhooks with the
	// API server: a cluster meshgate has not been installed in yet (the
	// audit's tests).
	Unregistered bool
	// Log receives progress lines (optional).
	Log logr.Logger
	// NoMeshgate starts the control plane only: no admission server, no
	// webhook configurations (the in-tree policy tests).
	NoMeshgate bool
	// HandOff registers the webhooks as the chart does with the in-tree
	// policies installed (webhook.HandOff): without the kinds they cover.
	HandOff bool
	// ControllerManager runs kube-controller-manager beside the API server
	// (the Deployment, ReplicaSet and ServiceAccount controllers, each with its
	// own service-account credentials as on a real cluster), so a
	// Deployment's pods are created by its ReplicaSet. No node runs: the pods
	// stay Pending.
	ControllerManager bool
}

// DefaultCRDDirs are every CRD set meshgate's rules read.
func DefaultCRDDirs() []string {
	return []string{CRDDir("istio"), CRDDir("cert-manager"), CRDDir("gateway-api"), EmissaryCRDDir()}
}

// Cluster is a running control plane with meshgate registered.
type Cluster struct {
	Env *envtest.Environment
	// Config is an admin rest.Config for the API server.
	Config *rest.Config
	// Client is a controller-runtime client for Config.
	Client client.Client
	// Server is the in-process meshgate.
	Server *webhook.Server
	// WebhookURL is where the API server reaches meshgate.
	WebhookURL string
	// HealthURL serves /healthz and /readyz; MetricsURL serves /metrics.
	HealthURL, MetricsURL string
	// Kubeconfig is a kubeconfig file for kubectl (admin).
	Kubeconfig string
	// Kubectl is the kubectl binary beside the control plane's.
	Kubectl string

	cancel context.CancelFunc
	done   chan error
	// controllerManager is the running kube-controller-manager (nil unless
	// Options.ControllerManager).
	controllerManager     *exec.Cmd
	controllerManagerDone chan error
	// apiCertDir holds the API server's serving certificates and client CA;
	// it is the harness's (not envtest's random one) so that RestartAPIServer
	// keeps them.
	apiCertDir string
}

// Start starts the control plane, meshgate and the webhook registration, and
// returns once meshgate is ready and the API server calls it.
func Start(o Options) (_ *Cluster, err error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	if o.CRDDirs == nil {
		o.CRDDirs = DefaultCRDDirs()
	}
	log := o.Log
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: o.CRDDirs, ErrorIfPathMissing: true},
		WebhookInstallOptions: envtest.WebhookInstallOptions{LocalServingHost: "127.0.0.1"},
	}
	api := env.ControlPlane.GetAPIServer()
	apiCertDir, err := os.MkdirTemp("", "meshgate-apiserver-")
	if err != nil {
		return nil, fmt.Errorf("API server certificate directory: %w", err)
	}
	api.CertDir = apiCertDir
	if os.Getenv("CLUSTER_APISERVER_LOG") != "" {
		api.Out, api.Err = os.Stderr, os.Stderr
	}
	// kube-apiserver 1.37 refuses a loopback advertise address unless it does
	// not reconcile the kubernetes Service's endpoints.
	api.Configure().Set("advertise-address", "127.0.0.1").Set("endpoint-reconciler-type", "none").
		// Open watches (meshgate's informers) would hold a stopping API
		// server for up to a minute; 2s lets StopAPIServer and Stop finish.
		Set("shutdown-watch-termination-grace-period", "2s")

	log.Info("starting the local control plane (kube-apiserver + etcd)", "assets", assets)
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(apiCertDir)
		return nil, fmt.Errorf("start the control plane: %w", err)
	}
	c := &Cluster{Env: env, Config: cfg, Kubectl: filepath.Join(assets, "kubectl"), apiCertDir: apiCertDir}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	if c.Client, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if err := c.writeKubeconfig(); err != nil {
		return nil, err
	}
	if o.NoMeshgate {
		return c, nil
	}

	wo := &env.WebhookInstallOptions
	healthPort, err := freePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	mo := o.Meshgate
	mo.Host, mo.Port, mo.CertDir = wo.LocalServingHost, wo.LocalServingPort, wo.LocalServingCertDir
	mo.HealthProbeBindAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(healthPort))
	mo.MetricsBindAddress = net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))
	c.HealthURL = "http://" + mo.HealthProbeBindAddress
	c.MetricsURL = "http://" + mo.MetricsBindAddress + "/metrics"
	c.WebhookURL = "https://" + net.JoinHostPort(mo.Host, strconv.Itoa(mo.Port))
	if mo.Logger.GetSink() == nil {
		mo.Logger = log.WithName("meshgate")
	}
	if c.Server, err = webhook.NewServer(cfg, mo); err != nil {
		return nil, fmt.Errorf("meshgate: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan error, 1)
	go func() { c.done <- c.Server.Start(ctx) }()
	if err := c.waitReady(60 * time.Second); err != nil {
		return nil, err
	}

	if o.Unregistered {
		return c, nil
	}
	// Registered as the chart does: from the configuration meshgate reads.
	mutating, validating := webhook.Configurations(webhook.RegistrationOptions{
		ClientConfig:   webhook.URLClientConfig(c.WebhookURL, wo.LocalServingCAData),
		TimeoutSeconds: 10,
		ObjectSelector: o.ObjectSelector,
		Config:         mo.Config,
	})
	if o.HandOff {
		webhook.HandOff(mutating, validating)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel2()
	if err := c.Client.Create(ctx2, mutating); err != nil {
		return nil, fmt.Errorf("register the mutating webhook: %w", err)
	}
	if err := c.Client.Create(ctx2, validating); err != nil {
		return nil, fmt.Errorf("register the validating webhook: %w", err)
	}
	log.Info("meshgate registered", "url", c.WebhookURL)
	if o.ControllerManager {
		if err := c.startControllerManager(assets); err != nil {
			return nil, err
		}
		log.Info("kube-controller-manager started")
	}
	return c, nil
}

// ControllerManagerControllers are the controllers Options.ControllerManager
// runs: enough for a Deployment to get its pods, in a namespace that has its
// default ServiceAccount.
var ControllerManagerControllers = []string{"deployment-controller", "replicaset-controller", "serviceaccount-controller"}

// startControllerManager starts kube-controller-manager (the multi-call
// binary beside kube-apiserver) as user system:kube-controller-manager, whose
// bootstrap RBAC lets it mint each controller's service-account credentials.
func (c *Cluster) startControllerManager(assets string) error {
	user, err := c.Env.ControlPlane.AddUser(envtest.User{Name: "system:kube-controller-manager"}, nil)
	if err != nil {
		return fmt.Errorf("kube-controller-manager user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kube-controller-manager kubeconfig: %w", err)
	}
	kubeconfig := filepath.Join(filepath.Dir(c.Kubeconfig), "controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
		return fmt.Errorf("kube-controller-manager kubeconfig: %w", err)
	}
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--controllers="+strings.Join(ControllerManagerControllers, ","),
		"--use-service-account-credentials",
		"--leader-elect=false",
		"--secure-port=0", // no serving endpoint: nothing here scrapes or probes it
	)
	if os.Getenv("CLUSTER_APISERVER_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	c.controllerManager, c.controllerManagerDone = cmd, make(chan error, 1)
	go func() { c.controllerManagerDone <- cmd.Wait() }()
	return nil
}

// stopControllerManager stops kube-controller-manager: SIGTERM, then SIGKILL
// after 10 seconds.
func (c *Cluster) stopControllerManager() error {
	if c.controllerManager == nil {
		return nil
	}
	defer func() { c.controllerManager = nil }()
	_ = c.controllerManager.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.controllerManagerDone:
		return stopped(err)
	case <-time.After(10 * time.Second):
	}
	_ = c.controllerManager.Process.Kill()
	select {
	case err := <-c.controllerManagerDone:
		return stopped(err)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("kube-controller-manager (pid %d) did not stop", c.controllerManager.Process.Pid)
	}
}

// stopped is the outcome of waiting for a process that was told to stop: an
// exit status or the signal is the expected end, anything else an error.
func stopped(err error) error {
	var exit *exec.ExitError
	if err == nil || errors.As(err, &exit) {
		return nil
	}
	return fmt.Errorf("kube-controller-manager: %w", err)
}

// waitReady polls /readyz until meshgate is ready.
func (c *Cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("meshgate stopped before it was ready: %w", err)
		default:
		}
		resp, err := http.Get(c.HealthURL + "/readyz?verbose")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz: %s: %s", resp.Status, body)
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("meshgate not ready after %s: %w", timeout, last)
}

func (c *Cluster) writeKubeconfig() error {
	user, err := c.Env.ControlPlane.AddUser(envtest.User{Name: "meshgate-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "meshgate-kubeconfig-")
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, data, 0o600); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// InstallCRDs installs more CRDs into the running API server and waits until
// they are served.
func (c *Cluster) InstallCRDs(dirs ...string) error {
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: dirs, ErrorIfPathMissing: true})
	if err != nil {
		return fmt.Errorf("install CRDs from %v: %w", dirs, err)
	}
	return nil
}

// Running reports whether meshgate's Server.Start is still running (it has
// not returned since Start).
func (c *Cluster) Running() bool {
	select {
	case err := <-c.done:
		c.done <- err
		return false
	default:
		return true
	}
}

// StopAPIServer stops kube-apiserver (SIGTERM, then SIGKILL after envtest's
// stop timeout); etcd and meshgate keep running.
func (c *Cluster) StopAPIServer() error {
	if err := c.Env.ControlPlane.GetAPIServer().Stop(); err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again after StopAPIServer, on the same
// port, with the same certificates and the same etcd, and returns once it
// answers /healthz.
func (c *Cluster) StartAPIServer() error {
	if err := c.Env.ControlPlane.GetAPIServer().Start(); err != nil {
		return fmt.Errorf("start kube-apiserver again: %w", err)
	}
	return nil
}

// Stop stops meshgate and the control plane.
func (c *Cluster) Stop() error {
	var errs []error
	errs = append(errs, c.stopControllerManager())
	if c.cancel != nil {
		c.cancel()
		select {
		case err := <-c.done:
			errs = append(errs, err)
		case <-time.After(30 * time.Second):
			errs = append(errs, errors.New("meshgate did not stop within 30s"))
		}
	}
	if c.Kubeconfig != "" {
		_ = os.RemoveAll(filepath.Dir(c.Kubeconfig))
	}
	errs = append(errs, c.Env.Stop())
	if c.apiCertDir != "" {
		_ = os.RemoveAll(c.apiCertDir)
	}
	return errors.Join(errs...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
