package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-idp/signet/cmd/signet/internal/obs"
	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// setupLogging makes the configured handler (log_format, log_level) the
// default logger, counting audit records into m, and returns the level so
// that SIGHUP can change it.
func setupLogging(cfg *Config, w io.Writer, m *obs.Metrics) (*slog.LevelVar, error) {
	level := new(slog.LevelVar)
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level.Set(slog.LevelInfo)
	}
	h, err := obs.NewLogHandler(w, cfg.LogFormat, level, m)
	if err != nil {
		return nil, err
	}
	// The op package logs through the default logger.
	slog.SetDefault(slog.New(h))
	return level, nil
}

// serverOption changes how newServer builds a server.
type serverOption func(*server)

// withMetrics has the server use m (the one the log handler counts into)
// instead of a registry of its own.
func withMetrics(m *obs.Metrics) serverOption {
	return func(s *server) { s.metrics = m }
}

// withSecrets gives a PostgreSQL server its two secrets instead of the
// environment, so that tests can run replicas side by side.
func withSecrets(sec *Secrets) serverOption {
	return func(s *server) { s.secrets = sec }
}

// withLogger has the server log to l instead of the process's default logger,
// so that tests running side by side keep their logs apart.
func withLogger(l *slog.Logger) serverOption {
	return func(s *server) { s.log = l }
}

// instrument registers the gauges computed at scrape time and times the
// store's writes. The counters fed by the log and the middleware need nothing.
func (s *server) instrument() {
	m := s.metrics
	writes := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "signet_storage_write_duration_seconds",
		Help:    "Time of one storage write transaction, commit and fsync included.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	if b, ok := s.store.(*boltstore.Store); ok {
		b.SetWriteObserver(func(d time.Duration) { writes.Observe(d.Seconds()) })
	}
	m.Registry.MustRegister(writes, &scrapeCollector{s: s})
}

// scrapeCollector reads the gauges that are cheaper to compute when asked
// than to keep up to date: key ages from storage, the store's size and queue.
type scrapeCollector struct{ s *server }

var (
	descKeyAge = prometheus.NewDesc("signet_signing_key_age_seconds",
		"Time since the active signing key of each algorithm started signing.", []string{"alg"}, nil)
	descNextRotation = prometheus.NewDesc("signet_signing_key_next_rotation_seconds",
		"Time until the next scheduled rotation of each algorithm (negative: overdue; it happens within a minute of being due).", []string{"alg"}, nil)
	descDBSize = prometheus.NewDesc("signet_storage_size_bytes",
		"Size of the database file, freed pages included until signet compact.", nil, nil)
	descLogoutQueue = prometheus.NewDesc("signet_backchannel_logout_queue",
		"Back-channel logout notices waiting to be delivered.", nil, nil)
	descReady = prometheus.NewDesc("signet_ready",
		"1 when /readyz answers ready: storage answers and signing keys are loaded.", nil, nil)
)

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeyAge, descNextRotation, descDBSize, descLogoutQueue, descReady} {
		ch <- d
	}
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s := c.s
	ready := 0.0
	if s.ready(ctx) == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
	if b, ok := s.store.(*boltstore.Store); ok {
		if st, err := b.Stats(ctx); err == nil {
			ch <- prometheus.MustNewConstMetric(descDBSize, prometheus.GaugeValue, float64(st.Size))
			ch <- prometheus.MustNewConstMetric(descLogoutQueue, prometheus.GaugeValue, float64(st.LogoutQueue))
		}
	}
	stored, err := s.store.ListKeys(ctx)
	if err != nil {
		return
	}
	now := s.now()
	p := keyPolicy(s.cfg)
	for _, alg := range keys.Algorithms {
		var active, next *storage.SigningKey
		for _, k := range stored {
			if k.Alg != string(alg) {
				continue
			}
			switch {
			case k.State == storage.KeyActive && (active == nil || k.ActivatedAt.After(active.ActivatedAt)):
				active = k
			case k.State == storage.KeyNext && (next == nil || k.CreatedAt.Before(next.CreatedAt)):
				next = k
			}
		}
		if active == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, now.Sub(active.ActivatedAt).Seconds(), string(alg))
		// keys.Decide rotates once the active key has signed for the period
		// and the next key has been published for the lead.
		due := active.ActivatedAt.Add(p.RotationPeriod)
		if next != nil && next.CreatedAt.Add(p.PrepublishLead).After(due) {
			due = next.CreatedAt.Add(p.PrepublishLead)
		}
		ch <- prometheus.MustNewConstMetric(descNextRotation, prometheus.GaugeValue, due.Sub(now).Seconds(), string(alg))
	}
}

// ready is nil when the server can answer: storage reads and the signing keys
// are loaded. Otherwise it is a *notReady.
func (s *server) ready(ctx context.Context) error {
	if err := s.store.Ping(ctx); err != nil {
		return &notReady{part: "storage", err: err}
	}
	if !s.provider.Ready() {
		return &notReady{part: "signing keys", err: errors.New("signing keys not loaded")}
	}
	return nil
}

// notReady says which part keeps the server from answering (part, safe to
// show anyone) and why (err, for the log only: a storage error can name the
// database's user, database and host).
type notReady struct {
	part string
	err  error
}

func (e *notReady) Error() string { return e.part + ": " + e.err.Error() }
func (e *notReady) Unwrap() error { return e.err }

// readiness logs a change of the probes' answer once, not on every probe: a
// load balancer probes each replica every few seconds.
type readiness struct {
	log  *slog.Logger
	mu   sync.Mutex
	last string // the last reason logged; "" while ready
}

func (r *readiness) report(ctx context.Context, err error) {
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	r.mu.Lock()
	changed := reason != r.last
	r.last = reason
	r.mu.Unlock()
	switch {
	case !changed:
	case err != nil:
		r.log.WarnContext(ctx, "not ready", "event", "not_ready", "error", err)
	default:
		r.log.InfoContext(ctx, "ready again", "event", "ready")
	}
}

// healthRoutes adds /livez (the process answers) and /readyz (it can serve),
// and /healthz, the older name, which answers as /readyz does: a load balancer
// probing it stops sending requests to a replica that cannot reach storage.
func (s *server) healthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	state := readiness{log: s.log}
	ready := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		err := s.ready(ctx)
		state.report(r.Context(), err)
		if err != nil {
			// The body names the part only; the cause is in the log.
			part := "storage"
			var nr *notReady
			if errors.As(err, &nr) {
				part = nr.part
			}
			http.Error(w, "not ready: "+part, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}
	mux.HandleFunc("GET /readyz", ready)
	mux.HandleFunc("GET /healthz", ready)
}

// serveMetrics serves GET /metrics on cfg.Metrics.Listen until ctx ends; it
// returns the bound address. It is a listener of its own: the public one never
// serves metrics. Scrape and server errors go to log.
func serveMetrics(ctx context.Context, addr string, m *obs.Metrics, log *slog.Logger, errc chan<- error) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler(log))
	srv := newHTTPServer(mux, log)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("metrics listener: %w", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return ln.Addr(), nil
}

// handleHangup makes SIGHUP reload what is safe to reload while serving (the
// log level) and name the settings that changed but need a restart; a broken
// file changes nothing. Without reload (no --config) it says so, to log. It
// stops with ctx.
func handleHangup(ctx context.Context, cfg *Config, level *slog.LevelVar, reload func() (*Config, error), log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		current := *cfg
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			if reload == nil {
				log.Info("SIGHUP received; no configuration file to reload (started without --config)", "event", "reload")
				continue
			}
			next, err := reload()
			if err != nil {
				log.Error("SIGHUP received; configuration not reloaded, the running one stays", "event", "reload_failed", "error", err)
				continue
			}
			var applied []string
			if next.LogLevel != current.LogLevel {
				var l slog.Level
				if l.UnmarshalText([]byte(next.LogLevel)) == nil {
					level.Set(l)
					current.LogLevel = next.LogLevel
					applied = append(applied, "log_level")
				}
			}
			restart := changedSettings(&current, next)
			log.Warn("SIGHUP received; configuration reloaded", "event", "reload",
				"applied", strings.Join(applied, ","), "restart_needed_for", strings.Join(restart, ","))
		}
	}()
}

// changedSettings lists the top-level keys whose values differ between a and b.
func changedSettings(a, b *Config) []string {
	var out []string
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	for i := range va.NumField() {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("yaml"), ",")
			out = append(out, name)
		}
	}
	return out
}
