package webhook

import (
	"log"
	"strings"
	"sync/atomic"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Requests that clients get wrong (an empty or undecodable body, a wrong
// content type, a connection reset mid-body, a request over a limit) are the
// client's errors, not meshgate's: controller-runtime logs each at error level,
// which production logging turns into a stack trace per request, so any pod
// that reaches the port could fill the logs. They are logged as one info line
// each, with the error as a value, without a stack, at most clientLogBurst
// lines at once and clientLogPerSecond a second after that; the lines dropped
// are counted in the next line written ("suppressed").
const (
	clientLogPerSecond = 1
	clientLogBurst     = 10
)

// clientLogger returns base's rate-limited logger for client errors.
func clientLogger(base logr.Logger) logr.Logger {
	if base.GetSink() == nil {
		return base
	}
	// A sink of its own: Init below changes the one it is given.
	return logr.New(&clientSink{
		LogSink: base.WithName("requests").GetSink(),
		shared:  &clientLogState{limit: rate.NewLimiter(clientLogPerSecond, clientLogBurst)},
	})
}

type clientLogState struct {
	limit   *rate.Limiter
	dropped atomic.Int64
}

// clientSink turns errors into rate-limited info lines; other lines pass.
type clientSink struct {
	logr.LogSink
	shared *clientLogState
}

// Init counts the frames clientSink adds (Info or Error, then emit).
func (s *clientSink) Init(ri logr.RuntimeInfo) {
	ri.CallDepth++
	s.LogSink.Init(ri)
}

func (s *clientSink) Info(level int, msg string, kv ...any) { s.emit(level, msg, kv) }

func (s *clientSink) Error(err error, msg string, kv ...any) {
	e := "<nil>"
	if err != nil {
		e = err.Error()
	}
	s.emit(0, msg, append(kv, "error", e))
}

func (s *clientSink) emit(level int, msg string, kv []any) {
	if level > 0 {
		// Debug lines (controller-runtime's V(5) per request) are off
		// unless asked for.
		s.LogSink.Info(level, msg, kv...)
		return
	}
	if !s.shared.limit.Allow() {
		s.shared.dropped.Add(1)
		return
	}
	if n := s.shared.dropped.Swap(0); n > 0 {
		kv = append(kv, "suppressed", n)
	}
	s.LogSink.Info(0, msg, kv...)
}

func (s *clientSink) WithValues(kv ...any) logr.LogSink {
	return &clientSink{LogSink: s.LogSink.WithValues(kv...), shared: s.shared}
}

func (s *clientSink) WithName(name string) logr.LogSink {
	return &clientSink{LogSink: s.LogSink.WithName(name), shared: s.shared}
}

// admissionLog is the LogConstructor of the admission.Webhooks: their
// request and body errors go to log, with the request's identity.
func admissionLog(log logr.Logger) func(logr.Logger, *admission.Request) logr.Logger {
	return func(_ logr.Logger, req *admission.Request) logr.Logger {
		if req == nil {
			return log
		}
		return admission.DefaultLogConstructor(log, req)
	}
}

// httpErrorLog routes net/http's own messages (failed TLS handshakes,
// connections reset) to log.
func httpErrorLog(l logr.Logger) *log.Logger {
	return log.New(logWriter{l}, "", 0)
}

type logWriter struct{ l logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
