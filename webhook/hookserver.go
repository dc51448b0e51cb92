package webhook

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
)

// hookServer is controller-runtime's webhook server (registration, its
// per-webhook metrics, the certificate watcher) on an http.Server whose
// timeouts and connection count meshgate sets (Limits): controller-runtime's
// own fixes them (32 s for headers, none for the body, no connection limit)
// and offers no option to change them.
type hookServer struct {
	crwebhook.Server
	o hookServerOptions

	mu      sync.Mutex
	started bool
}

type hookServerOptions struct {
	Host         string
	Port         int
	CertDir      string
	TLSOpts      []func(*tls.Config)
	ClientCAFile string
	Limits       Limits
	Metrics      *Metrics
	// Log receives the server's own errors; RequestLog net/http's messages
	// about clients (failed handshakes, resets).
	Log, RequestLog logr.Logger
}

var _ crwebhook.Server = (*hookServer)(nil)

func newHookServer(o hookServerOptions) *hookServer {
	if o.Port == 0 {
		o.Port = crwebhook.DefaultPort
	}
	if o.CertDir == "" {
		o.CertDir = filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
	}
	return &hookServer{
		Server: crwebhook.NewServer(crwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir, WebhookMux: http.NewServeMux()}),
		o:      o,
	}
}

func (s *hookServer) addr() string { return net.JoinHostPort(s.o.Host, strconv.Itoa(s.o.Port)) }

// tlsConfig is the listener's TLS configuration: the TLS options, the
// watched serving certificate and, with a client CA file, client
// certificates required and verified.
func (s *hookServer) tlsConfig(ctx context.Context) (*tls.Config, error) {
	cfg := &tls.Config{NextProtos: []string{"h2"}}
	for _, op := range s.o.TLSOpts {
		op(cfg)
	}
	if cfg.GetCertificate == nil {
		w, err := certwatcher.New(filepath.Join(s.o.CertDir, "tls.crt"), filepath.Join(s.o.CertDir, "tls.key"))
		if err != nil {
			return nil, fmt.Errorf("serving certificate: %w", err)
		}
		cfg.GetCertificate = w.GetCertificate
		go func() {
			if err := w.Start(ctx); err != nil {
				s.o.Log.Error(err, "certificate watcher stopped")
			}
		}()
	}
	if s.o.ClientCAFile != "" {
		pool, err := loadCAs(s.o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// loadCAs reads a PEM bundle of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("client CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Start serves the registered webhooks until ctx is done, then shuts down
// gracefully (at most a minute), as controller-runtime's server does.
func (s *hookServer) Start(ctx context.Context) error {
	cfg, err := s.tlsConfig(ctx)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.addr())
	if err != nil {
		return fmt.Errorf("webhook server: %w", err)
	}
	l := s.o.Limits
	if l.MaxConnections > 0 {
		ln = &capListener{Listener: ln, max: int64(l.MaxConnections), refused: func() { s.o.Metrics.refused(refusedConnections) }}
	}
	srv := &http.Server{
		Handler:           s.WebhookMux(),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          httpErrorLog(s.o.RequestLog),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.o.Log.Error(err, "webhook server shutdown")
		}
	}()
	s.mu.Lock()
	s.started = true
	s.mu.Unlock()
	if err := srv.Serve(tls.NewListener(ln, cfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("webhook server: %w", err)
	}
	<-done
	return nil
}

// StartedChecker passes once the server is started and its port completes a
// TLS handshake (or refuses this client, which has no certificate, with a TLS
// alert: the port speaks TLS).
func (s *hookServer) StartedChecker() healthz.Checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started := s.started
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only checks the port answers TLS
		var alert tls.AlertError
		switch {
		case err == nil:
			return conn.Close()
		case errors.As(err, &alert):
			return nil
		}
		return fmt.Errorf("webhook server is not reachable: %w", err)
	}
}
