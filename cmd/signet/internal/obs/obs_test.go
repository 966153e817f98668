package obs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestMiddlewareRequestIDAndAddress(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	level := new(slog.LevelVar)
	m := NewMetrics()
	h, err := NewLogHandler(&buf, "json", level, m)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h)
	var seenAddr, seenID string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		seenAddr, seenID = r.RemoteAddr, RequestID(r.Context())
		log.InfoContext(r.Context(), "signed in", "event", "login")
		w.WriteHeader(http.StatusSeeOther)
	})
	mw := Middleware{Log: log, Metrics: m, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}.Wrap(mux)

	for _, tc := range []struct {
		peer, xff, xrid string
		wantAddr        string
		keepID          bool
	}{
		{"10.1.2.3:555", "198.51.100.7, 10.9.9.9", "abc-123", "198.51.100.7", true}, // trusted proxy
		{"203.0.113.5:555", "198.51.100.7", "abc-123", "203.0.113.5:555", false},    // anyone else: headers ignored
		{"10.1.2.3:555", "", "bad id with spaces", "10.1.2.3:555", false},           // a malformed id is replaced
		{"10.1.2.3:555", "", strings.Repeat("a", 200), "10.1.2.3:555", false},       // and an overlong one
		{"10.1.2.3:555", "not-an-ip, 10.0.0.1", "", "10.0.0.1", false},              // garbage stops the walk
		{"[2001:db8::1]:443", "", "", "[2001:db8::1]:443", false},                   // IPv6 peer, untrusted
		{"10.1.2.3:555", "2001:db8::7", "x", "2001:db8::7", true},                   // IPv6 client behind the proxy
		{"10.1.2.3:555", "10.0.0.9", "y", "10.0.0.9", true},                         // all hops trusted
		{"10.1.2.3:555", "198.51.100.7", "req/1+2=", "198.51.100.7", true},          // base64-ish ids pass
		{"10.1.2.3:555", "198.51.100.7", "id\x00", "198.51.100.7", false},           // control characters are refused
	} {
		buf.Reset()
		r := httptest.NewRequest(http.MethodPost, "/login?code=secret-code", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.xrid != "" {
			r.Header.Set(HeaderRequestID, tc.xrid)
		}
		w := httptest.NewRecorder()
		mw.ServeHTTP(w, r)
		if seenAddr != tc.wantAddr {
			t.Errorf("%+v: RemoteAddr %q, want %q", tc, seenAddr, tc.wantAddr)
		}
		if got := w.Header().Get(HeaderRequestID); got != seenID || (tc.keepID && got != tc.xrid) || (!tc.keepID && (got == tc.xrid || len(got) != 32)) {
			t.Errorf("%+v: request id %q (handler saw %q)", tc, got, seenID)
		}
		// Two lines, both with the request id; the access line has no query.
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if len(lines) != 2 {
			t.Fatalf("%d log lines: %q", len(lines), buf.String())
		}
		for _, l := range lines {
			var rec map[string]any
			if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["request_id"] != seenID {
				t.Errorf("line %q: request_id %v, want %q (%v)", l, rec["request_id"], seenID, err)
			}
			if strings.Contains(l, "secret-code") {
				t.Errorf("the query reached the log: %q", l)
			}
		}
	}
	if got := value(m.requests.WithLabelValues("/login", "POST", "303")); got != 10 {
		t.Errorf("requests counted %v, want 10", got)
	}
	if got := value(m.logins.WithLabelValues(LoginOK)); got != 10 {
		t.Errorf("logins counted %v, want 10", got)
	}
}

// An audit record is counted even when the level filters its line out, and
// an "event" given through Logger.With counts like one in the record.
func TestCountingBelowLevel(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	m := NewMetrics()
	h, _ := NewLogHandler(&buf, "text", level, m)
	log := slog.New(h)
	ctx := context.Background()
	log.InfoContext(ctx, "sign-in failed", "event", "login_failed", "reason", "locked")
	log.InfoContext(ctx, "sign-in failed", "event", "login_failed", "reason", "wrong_password")
	log.With("event", "token_issued").Info("token issued", "grant_type", "refresh_token", "client", "app", "alg", "ES256")
	log.WithGroup("g").Info("nested", "event", "login")
	log.Debug("debug", "event", "login")
	if buf.Len() != 0 {
		t.Errorf("lines below the level were written: %q", buf.String())
	}
	for name, want := range map[string]float64{
		LoginLocked: 1, LoginWrongPassword: 1, LoginOK: 0,
	} {
		if got := value(m.logins.WithLabelValues(name)); got != want {
			t.Errorf("logins{%s} = %v, want %v", name, got, want)
		}
	}
	if got := value(m.tokens.WithLabelValues("refresh_token", "app", "ES256")); got != 1 {
		t.Errorf("tokens = %v, want 1", got)
	}
	level.Set(slog.LevelDebug)
	log.Debug("now visible")
	if !strings.Contains(buf.String(), "now visible") {
		t.Error("a level change did not take effect")
	}
	if _, err := NewLogHandler(&buf, "xml", level, nil); err == nil {
		t.Error("log format xml accepted")
	}
}

// value reads a counter.
func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
