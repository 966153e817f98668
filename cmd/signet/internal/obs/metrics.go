package obs

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is Signet's Prometheus registry and the collectors that the log
// handler and the HTTP middleware feed. Its own registry, not the global one,
// so that several servers in one test process never share counters.
type Metrics struct {
	// Registry holds every collector; main registers its scrape-time gauges here.
	Registry *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	events       *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	logins       *prometheus.CounterVec
	refreshReuse prometheus.Counter
	codeReplay   prometheus.Counter
	locks        *prometheus.CounterVec
	logoutFailed *prometheus.CounterVec
}

// Sign-in outcomes, the values of signet_logins_total's outcome label.
const (
	LoginOK                 = "ok"
	LoginWrongPassword      = "wrong_password"
	LoginLocked             = "locked"
	LoginBusy               = "busy"
	LoginSecondFactor       = "second_factor"
	LoginSecondFactorFailed = "second_factor_failed"
)

// NewMetrics builds the registry with the Go runtime and process collectors and
// Signet's own counters, every labelled series that is known in advance
// initialised at zero (an alert on a rate needs the series to exist before the
// first event).
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_http_requests_total",
			Help: "HTTP requests answered on the public listener, by route pattern (not raw path), method and status code.",
		}, []string{"handler", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request on the public listener, by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"handler"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_audit_events_total",
			Help: "Audit log records by their event attribute, counted whatever the log level.",
		}, []string{"event"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_tokens_issued_total",
			Help: "Token responses issued by the token endpoint, by grant type, client and signing algorithm of the ID token.",
		}, []string{"grant_type", "client", "alg"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_logins_total",
			Help: "Password sign-ins by outcome: ok, wrong_password, locked, busy, second_factor (password accepted, code asked), second_factor_failed.",
		}, []string{"outcome"}),
		refreshReuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_refresh_token_reuse_total",
			Help: "Rotated refresh tokens presented again; each revoked its family.",
		}),
		codeReplay: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_authorization_code_replays_total",
			Help: "Authorization codes presented a second time; each revoked what the first use issued.",
		}),
		locks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_throttle_locks_total",
			Help: "Sign-in throttle locks imposed after repeated failures, by what was locked (account or address).",
		}, []string{"scope"}),
		logoutFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_backchannel_logout_failures_total",
			Help: "Failed back-channel logout deliveries, by result: retry (will be tried again) or abandoned.",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.events, m.tokens, m.logins, m.refreshReuse, m.codeReplay, m.locks, m.logoutFailed,
	)
	for _, o := range []string{LoginOK, LoginWrongPassword, LoginLocked, LoginBusy, LoginSecondFactor, LoginSecondFactorFailed} {
		m.logins.WithLabelValues(o)
	}
	m.locks.WithLabelValues("account")
	m.locks.WithLabelValues("address")
	m.logoutFailed.WithLabelValues("retry")
	m.logoutFailed.WithLabelValues("abandoned")
	return m
}

// Handler serves the exposition format, logging what fails to log. main
// mounts it on the metrics listener only, never on the public one.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// event is what the counting handler read from one log record.
type event struct {
	name, grant, client, alg string
	locked                   bool // reason "locked": a failed sign-in refused because the account is locked
}

// count turns one audit record into counter increments.
func (m *Metrics) count(e event) {
	m.events.WithLabelValues(e.name).Inc()
	switch e.name {
	case "token_issued":
		m.tokens.WithLabelValues(e.grant, e.client, e.alg).Inc()
	case "login":
		m.logins.WithLabelValues(LoginOK).Inc()
	case "login_failed":
		if e.locked {
			m.logins.WithLabelValues(LoginLocked).Inc()
		} else {
			m.logins.WithLabelValues(LoginWrongPassword).Inc()
		}
	case "address_locked":
		// Refused before the password is checked: no login_failed follows.
		m.logins.WithLabelValues(LoginLocked).Inc()
	case "login_busy":
		m.logins.WithLabelValues(LoginBusy).Inc()
	case "login_first_factor":
		m.logins.WithLabelValues(LoginSecondFactor).Inc()
	case "second_factor_failed":
		m.logins.WithLabelValues(LoginSecondFactorFailed).Inc()
	case "refresh_reuse":
		m.refreshReuse.Inc()
	case "code_replay":
		m.codeReplay.Inc()
	case "lockout":
		m.locks.WithLabelValues("account").Inc()
	case "address_lockout":
		m.locks.WithLabelValues("address").Inc()
	case "backchannel_logout_failed":
		m.logoutFailed.WithLabelValues("retry").Inc()
	case "backchannel_logout_abandoned":
		m.logoutFailed.WithLabelValues("abandoned").Inc()
	}
}

// observeRequest records one answered request. pattern is the ServeMux
// pattern that matched ("GET /login", "/token"); its method part is dropped
// because the method is a label of its own.
func (m *Metrics) observeRequest(pattern, method string, status int, seconds float64) {
	handler := pattern
	if _, path, ok := strings.Cut(pattern, " "); ok {
		handler = path
	}
	if handler == "" || handler == "/" {
		handler = "other" // the catch-all: unknown paths, so raw paths never become labels
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodOptions, http.MethodDelete, http.MethodPut:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(handler, method, statusLabel(status)).Inc()
	m.duration.WithLabelValues(handler).Observe(seconds)
}

func statusLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return string(rune('0'+code/100)) + string(rune('0'+code/10%10)) + string(rune('0'+code%10))
}
