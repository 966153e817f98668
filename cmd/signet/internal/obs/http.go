package obs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
)

// Middleware wraps the public HTTP handler.
type Middleware struct {
	// Log receives the access line of every request, at info.
	Log *slog.Logger
	// Metrics counts requests by route and status (nil: none).
	Metrics *Metrics
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// X-Request-Id are believed; a request from anywhere else has its peer
	// address as its client address and a request id made here.
	TrustedProxies []netip.Prefix
}

// HeaderRequestID carries the request id in and out.
const HeaderRequestID = "X-Request-Id"

// Wrap returns next behind the middleware. For each request it:
//
//   - sets r.RemoteAddr to the client's address when the peer is a trusted
//     proxy (the nearest untrusted X-Forwarded-For hop), so every log line and
//     the sign-in throttle name the client, not the proxy;
//   - takes the request id from a trusted proxy's X-Request-Id or makes one,
//     puts it in the context (every log line of the request carries it) and in
//     the response's X-Request-Id;
//   - logs one access line at info: method, path without the query (which may
//     hold codes or tokens), status, duration, client address, request id;
//   - counts the request by the route pattern that served it.
func (m Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		peer := hostOf(r.RemoteAddr)
		trusted := m.trusted(peer)
		st := &requestState{}
		if trusted {
			if client := m.ClientAddress(r); client != peer {
				r.RemoteAddr = client
			}
			st.id = validRequestID(r.Header.Get(HeaderRequestID))
		}
		if st.id == "" {
			st.id = newRequestID()
		}
		w.Header().Set(HeaderRequestID, st.id)
		r = r.WithContext(context.WithValue(r.Context(), requestStateKey{}, st))
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			// Logged and counted even when the handler panics (net/http
			// recovers it and drops the connection), then the panic goes on.
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			d := time.Since(start)
			if m.Metrics != nil {
				m.Metrics.observeRequest(r.Pattern, r.Method, status, d.Seconds())
			}
			if m.Log != nil {
				m.Log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", status),
					slog.Float64("duration_ms", float64(d.Microseconds())/1000),
					slog.Int64("bytes", sw.bytes),
					slog.String("address", hostOf(r.RemoteAddr)))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// ClientAddress is the client's IP address, by the rule the throttles use too
// (policy.ClientAddress: the peer's, or behind a trusted proxy the nearest
// address in X-Forwarded-For that is not one).
func (m Middleware) ClientAddress(r *http.Request) string {
	return policy.ClientAddress(r, m.TrustedProxies)
}

func (m Middleware) trusted(addr string) bool { return policy.Trusted(m.TrustedProxies, addr) }

func hostOf(addr string) string { return policy.HostOf(addr) }

// validRequestID returns id when it is a reasonable request id (what proxies
// make: UUIDs, hex, base64), "" otherwise; a hostile one never reaches a log.
func validRequestID(id string) string {
	if id == "" || len(id) > 128 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("-_.:+/=", c) >= 0:
		default:
			return ""
		}
	}
	return id
}

// newRequestID is 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// statusWriter remembers the status and counts the body bytes.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
