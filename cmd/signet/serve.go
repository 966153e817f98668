package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/demorp"
	"github.com/signet-idp/signet/cmd/signet/internal/obs"
	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/provider/idtoken"
	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/pending"
	"github.com/signet-idp/signet/web"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/totp"
	"github.com/signet-idp/signet/web/session"
)

// File names inside data_dir.
const (
	dbFileName     = "signet.db"
	socketFileName = "admin.sock"
)

// server is the wired-up Signet: everything runServe starts, built by newServer so
// that tests can run the same wiring on httptest.
type server struct {
	cfg      *Config
	store    serverStore
	keys     *keys.Manager
	provider *provider.Provider
	web      *web.Handler
	admin    *admin.Service
	access   *account.Ender
	handler  http.Handler
	metrics  *obs.Metrics
	now      func() time.Time
	log      *slog.Logger
	// secrets, when an option sets them, stand in for the environment's
	// (PostgreSQL only: tests run replicas side by side without setting it).
	secrets *Secrets
}

// newServer opens the data directory (or, with storage.type postgres, the
// database) and builds every component. now is the clock (time.Now outside
// tests).
func newServer(ctx context.Context, cfg *Config, now func() time.Time, opts ...serverOption) (*server, error) {
	if cfg.Storage.Postgres() {
		return newPostgresServer(ctx, cfg, now, opts...)
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	secrets, err := LoadSecrets(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(cfg.DataDir, dbFileName)
	if err := CheckPrivateFile(dbPath); err != nil {
		return nil, err
	}
	store, err := boltstore.Open(dbPath, boltstore.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	s, err := wire(ctx, cfg, store, secrets, now, opts...)
	if err != nil {
		store.Close()
		return nil, err
	}
	return s, nil
}

func wire(ctx context.Context, cfg *Config, store serverStore, secrets *Secrets, now func() time.Time, opts ...serverOption) (*server, error) {
	// The one logger of the process (setupLogging made it the default, which
	// zitadel's op package logs to); every component is given it here. Tests
	// give each server a logger of its own (withLogger).
	s := &server{cfg: cfg, store: store, now: now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	log := s.log
	lt := cfg.Lifetimes
	km, err := initKeys(ctx, cfg, store, secrets, now, log)
	if err != nil {
		return nil, err
	}
	s.keys = km
	hasher := newHasher(cfg)
	if s.metrics == nil {
		s.metrics = obs.NewMetrics()
	}

	// The protocol and the pages see pending requests sealed in their ids, so
	// that /authorize stores nothing until someone signs in.
	flowStore := pending.Wrap(store, pending.DeriveKey(secrets.CookieKey))
	scopes := make([]provider.Scope, len(cfg.Scopes))
	for i, sc := range cfg.Scopes {
		scopes[i] = provider.Scope{Name: sc.Name, Claims: sc.Claims}
	}
	// Every route, link and cookie lives under the issuer's path (basepath.go).
	basePath := issuerBasePath(cfg.Issuer)
	// One renderer for the pages and the protocol's error page, parsed once.
	pages, err := web.Templates(cfg.ThemeDir, cfg.Issuer, basePath, log)
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	// What ends access (sessions, grants) is one value for the pages, the
	// admin service and the janitor; the provider delivers the logout notices
	// it queues as soon as it says so.
	access := account.New(flowStore, log, now)
	// The browser session: the pages sign in and out with it, the provider's
	// callback checks whose browser it is.
	sessions := session.New(session.Config{
		Store: flowStore, Issuer: cfg.Issuer, BasePath: basePath,
		Lifetime: lt.Session.D(), Idle: lt.SessionIdle.D(), End: access, Now: now, Log: log,
	})
	p, err := provider.New(provider.Config{
		Issuer: cfg.Issuer, BasePath: basePath, Store: flowStore, Keys: km, Scopes: scopes, Ping: store.Ping,
		Lifetimes: provider.Lifetimes{
			AccessToken:          lt.AccessToken.D(),
			IDToken:              lt.IDToken.D(),
			RefreshTokenIdle:     lt.RefreshTokenIdle.D(),
			RefreshTokenAbsolute: lt.RefreshTokenAbsolute.D(),
			RefreshReuseGrace:    lt.RefreshReuseGrace.D(),
			AuthRequest:          lt.AuthRequest.D(),
			AuthorizationCode:    lt.AuthorizationCode.D(),
			Session:              lt.Session.D(),
			SessionIdle:          lt.SessionIdle.D(),
		},
		AccessTokenAlg: jose.SignatureAlgorithm(cfg.Keys.AccessTokenAlg),
		ACRValues:      web.ACRValuesSupported(),
		SecretKey:      secrets.CookieKey, // not the KEK: keys rewrap must not change it
		JWKSMaxAge:     cfg.Keys.JWKSCacheLifetime.D(),
		Pages:          pages,
		LogoutQueued:   access.Queued(),
		Sessions:       sessions,
		Now:            now,
		Log:            log,
	})
	if err != nil {
		return nil, err
	}
	s.provider, s.access = p, access
	wh, err := web.New(web.Config{
		Store: flowStore, Hasher: hasher, CookieKey: secrets.CookieKey, Issuer: cfg.Issuer, BasePath: basePath,
		Log:            log,
		TOTPKey:        totp.DeriveKey(secrets.CookieKey), // not the KEK: keys rewrap must not change it
		MFAPolicy:      cfg.MFA.Policy,
		Sessions:       sessions,
		Pages:          pages,
		TrustedProxies: cfg.trustedProxies(),
		Throttle: web.ThrottleConfig{
			AccountFree: cfg.Throttle.AccountFailures, AddressFree: cfg.Throttle.AddressFailures,
			Base: cfg.Throttle.BaseLockout.D(), Max: cfg.Throttle.MaxLockout.D(),
		},
		Access: access,
		Hints:  idtoken.NewVerifier(cfg.Issuer, km),
		Scopes: scopeRegistry(cfg),
		Now:    now,
	})
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	s.web = wh
	s.admin = admin.New(admin.Config{
		Store: store, Hasher: hasher, Now: now, Log: log,
		Keys: km, Rewrap: rewrapper(cfg, km),
		Access: access,
	})

	notFound := func(w http.ResponseWriter, r *http.Request) {
		pages.ErrorPage(w, r, http.StatusNotFound, "Page not found", "There is no page at this address. Return to the application you came from.")
	}
	mux := http.NewServeMux()
	p.Routes(mux)
	wh.Routes(mux)
	// An unknown page gets Signet's own error page, not Go's bare text (the
	// most general pattern: every registered path still wins). It matches
	// every method, so it answers 405 itself for a known path asked with a
	// method it does not serve, as the mux would have.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			if slices.Contains(allow, http.MethodGet) {
				allow = append(allow, http.MethodHead)
			}
			w.Header().Set("Allow", strings.Join(allow, ", "))
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		notFound(w, r)
	})
	s.healthRoutes(mux)
	s.instrument()
	s.handler = obs.Middleware{Log: log, Metrics: s.metrics, TrustedProxies: cfg.trustedProxies()}.Wrap(baselineHeaders(mountAt(basePath, mux, notFound)))
	return s, nil
}

// baselineHeaders gives every response (JSON, redirects, 404s) the headers
// that cost nothing and stop content sniffing, framing and Referer leaks; the
// pages set their own, stricter policy over these.
func baselineHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// runBackground runs the janitor, the key-rotation loop and back-channel logout
// delivery until ctx ends.
func (s *server) runBackground(ctx context.Context, now func() time.Time) {
	go s.provider.RunLogoutDelivery(ctx)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			s.endIdleSessions(ctx, now())
			for {
				n, err := s.store.DeleteExpired(ctx, now(), 500)
				if err != nil {
					s.log.ErrorContext(ctx, "janitor: delete expired", "error", err)
				}
				if err != nil || n < 500 {
					break
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	go func() {
		// Another replica (or the CLI, writing the shared database directly)
		// may change the keys: every replica serves the new JWKS within a few
		// seconds, well inside the pre-publication lead.
		t := time.NewTicker(keySyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if changed, err := s.keys.Sync(ctx); err != nil {
				s.log.WarnContext(ctx, "keys: sync", "error", err)
			} else if changed {
				s.log.InfoContext(ctx, "signing keys changed elsewhere; now serving them", "event", "key_change")
			}
		}
	}()
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Rotation never blocks signing: the snapshot is swapped atomically.
			before := s.keys.Snapshot().Version
			if err := s.keys.Rotate(ctx); err != nil {
				s.log.ErrorContext(ctx, "keys: rotate", "error", err)
			} else if s.keys.Snapshot().Version != before {
				s.log.InfoContext(ctx, "signing keys changed", "event", "key_change")
			}
		}
	}()
}

// keySyncInterval is how often a server rereads the key set for changes made
// elsewhere.
const keySyncInterval = 5 * time.Second

// endIdleSessions ends the sessions that saw neither a page nor a refresh for
// lifetimes.session_idle, each with its back-channel logout notices, as a
// browser returning to an idle session would.
func (s *server) endIdleSessions(ctx context.Context, now time.Time) {
	idle := s.cfg.Lifetimes.SessionIdle.D()
	if idle <= 0 {
		return
	}
	for {
		sessions, err := s.store.ListIdleSessions(ctx, now.Add(-idle), 500)
		if err != nil {
			s.log.ErrorContext(ctx, "janitor: list idle sessions", "error", err)
			return
		}
		ended := 0
		for _, sess := range sessions {
			if !sess.Idle(now, idle) {
				continue
			}
			if err := s.access.EndSession(ctx, sess); err != nil && !errors.Is(err, storage.ErrNotFound) {
				s.log.ErrorContext(ctx, "janitor: end idle session", "subject", sess.UserID, "error", err)
				return
			}
			ended++
			s.log.InfoContext(ctx, "idle session ended", "event", "session_idle_end", "subject", sess.UserID, "sid", sess.SID)
		}
		if len(sessions) < 500 || ended == 0 {
			return
		}
	}
}

// runServe runs Signet until ctx is cancelled (SIGINT/SIGTERM), then shuts down
// gracefully, finishing in-flight requests.
func runServe(ctx context.Context, cfg *Config, demoMode bool, out io.Writer) error {
	return runServeReloading(ctx, cfg, demoMode, out, nil)
}

// runServeReloading is runServe with the loader SIGHUP calls to reread the
// configuration (nil: there is no file to reread).
func runServeReloading(ctx context.Context, cfg *Config, demoMode bool, out io.Writer, reload func() (*Config, error)) error {
	// Before anything is opened or created: the demo's password is published.
	if err := checkDemoDataDir(cfg, demoMode); err != nil {
		return err
	}
	metrics := obs.NewMetrics()
	level, err := setupLogging(cfg, os.Stderr, metrics)
	if err != nil {
		return err
	}
	setMemoryLimit(cfg)
	setGCPercent()
	setProcs(cfg)
	s, err := newServer(ctx, cfg, time.Now, withMetrics(metrics))
	if err != nil {
		return err
	}
	defer s.store.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runBackground(ctx, time.Now)
	if err := startProfiling(ctx, s.store, s.log); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := newHTTPServer(s.handler, s.log)
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ln) }()

	sock := filepath.Join(cfg.DataDir, socketFileName)
	adminDone := make(chan struct{})
	go func() {
		defer close(adminDone)
		// Only bbolt's lock keeps the CLI out of the database while serve
		// runs; with PostgreSQL the CLI opens the database itself.
		bolt, ok := s.store.(*boltstore.Store)
		if !ok {
			return
		}
		if err := admin.ListenAndServe(ctx, sock, admin.NewHandler(s.admin, bolt)); err != nil {
			errc <- fmt.Errorf("admin socket: %w", err)
		}
	}()

	fmt.Fprintf(out, "Signet is serving %s (listening on %s)\n", cfg.Issuer, ln.Addr())
	fmt.Fprintf(out, "Discovery: %s%s\n", cfg.Issuer, provider.PathDiscovery)
	if cfg.Metrics.Listen != "" {
		addr, err := serveMetrics(ctx, cfg.Metrics.Listen, metrics, s.log, errc)
		if err != nil {
			srv.Close()
			return err
		}
		fmt.Fprintf(out, "Metrics: http://%s/metrics\n", addr)
	}
	handleHangup(ctx, cfg, level, reload, s.log)

	var demoSrv *http.Server
	if demoMode {
		demoSrv, err = startDemo(ctx, s, cfg, out, errc)
		if err != nil {
			srv.Close()
			return err
		}
	}
	s.log.Info("signet started", "issuer", cfg.Issuer, "listen", ln.Addr().String(), "demo", demoMode)

	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	s.log.Info("signet shutting down")
	shutCtx, done := context.WithTimeout(context.Background(), 15*time.Second)
	defer done()
	if demoSrv != nil {
		demoSrv.Shutdown(shutCtx)
	}
	if serr := srv.Shutdown(shutCtx); serr != nil && err == nil {
		err = serr
	}
	// The admin socket is removed once its server stops.
	cancel()
	<-adminDone
	return err
}

// setMemoryLimit gives the garbage collector a soft limit sized for the
// password hashes that may run at once (each allocates argon2's memory), so that
// a burst of sign-ins does not let the heap double; GOMEMLIMIT overrides it.
func setMemoryLimit(cfg *Config) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	slots := cfg.Passwords.MaxConcurrent
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	perHash := int64(cfg.Passwords.Argon2MemoryKiB) << 10
	debug.SetMemoryLimit(128<<20 + 2*int64(slots)*perHash)
}

// gcPercent is the garbage collector's growth target for serve: the heap of
// live records is small (tens of MiB), so at Go's default of 100 the collector
// ran several times a second under token traffic; at 400 the CPU per refresh
// answer was about 20 % lower (BENCHMARKS.md, issue 14). The soft memory limit
// (setMemoryLimit) still bounds the heap: near it, the collector runs as
// often as it must.
const gcPercent = 400

// setGCPercent applies gcPercent unless GOGC chooses otherwise.
func setGCPercent() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

// defaultProcs is GOMAXPROCS as the runtime chose it at start (the CPUs this
// process may use).
var defaultProcs = runtime.GOMAXPROCS(0)

// setProcs gives the Go scheduler one P more than CPUs when the store is bbolt,
// unless GOMAXPROCS chooses. bbolt commits with fdatasync, a system call that
// blocks and keeps its P meanwhile: the runtime's sysmon takes a P back from a
// system call only once it has seen it there on two of its ticks, and its
// ticks stretch to 10 ms, so each sync (0.2-1 ms, two per commit) left one of
// the CPUs without a P while signatures queued for it. On 2 CPUs, RS256 code
// exchange and refresh at 32 concurrent went from 0.61-0.68 of the
// storage-less reference to 0.76-0.94 (BENCHMARKS.md, issue 14). PostgreSQL's
// waits are on the network poller, which frees the P.
func setProcs(cfg *Config) {
	if os.Getenv("GOMAXPROCS") != "" || cfg.Storage.Postgres() {
		return
	}
	runtime.GOMAXPROCS(defaultProcs + 1)
}

// newHTTPServer sets every timeout and bounds headers: a slow or oversized client
// cannot hold a connection or memory for long. The server's own errors go to log.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      75 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Demo relying party.
const (
	demoUsername = "demo"
	demoPassword = "signet-demo-password"
	demoClientID = "signet-demo"
	demoListen   = "127.0.0.1:5557"
	// demoMarkFile, in data_dir, marks a demo data directory: one that serve
	// --demo created, which may hold the demo person and its published password.
	demoMarkFile = "demo-data-dir"
)

// checkDemoDataDir applies the demo rule, before the data directory is opened,
// because anyone may read the demo person's password:
//
//   - serve --demo runs only with a loopback issuer (127.0.0.0/8, ::1, localhost);
//   - serve --demo runs only in a data directory of its own: one it marked
//     before (demoMarkFile), or one without a database yet, which it marks now;
//   - serve, with or without --demo, refuses a marked data directory when the
//     issuer is not a loopback address.
//
// So the demo person and client are never created next to a real issuer's people
// and clients, and a demo data directory never serves a real issuer.
func checkDemoDataDir(cfg *Config, demoMode bool) error {
	loopback := loopbackIssuer(cfg.Issuer)
	if demoMode && !loopback {
		return fmt.Errorf("serve --demo refused: issuer %s is not a loopback address (http://127.0.0.1:..., http://localhost:... or http://[::1]:...); "+
			"the demo creates the person %q with the published password %q, so it runs only where nobody else can reach it",
			cfg.Issuer, demoUsername, demoPassword)
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return err
	}
	mark := filepath.Join(cfg.DataDir, demoMarkFile)
	marked, err := fileExists(mark)
	if err != nil {
		return fmt.Errorf("demo data directory mark: %w", err)
	}
	if marked && !loopback {
		return fmt.Errorf("data directory %s is a demo data directory (serve --demo created it, with the person %q whose password is published), "+
			"so it serves only a loopback issuer, not %s; use a new data_dir for a real issuer", cfg.DataDir, demoUsername, cfg.Issuer)
	}
	if !demoMode || marked {
		return nil
	}
	hasDB, err := fileExists(filepath.Join(cfg.DataDir, dbFileName))
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if hasDB {
		return fmt.Errorf("serve --demo refused: data directory %s already holds a Signet database that serve --demo did not create; "+
			"the demo creates the person %q with a published password, so it runs only in a data directory of its own: set data_dir to a new directory",
			cfg.DataDir, demoUsername)
	}
	const text = "signet serve --demo created this data directory: it holds a person whose password is published.\n" +
		"Signet serves it only with a loopback issuer; use a new data_dir for a real issuer.\n"
	if err := os.WriteFile(mark, []byte(text), 0o600); err != nil {
		return fmt.Errorf("demo data directory mark: %w", err)
	}
	return nil
}

// loopbackIssuer reports whether issuer is an http or https URL to a loopback
// host, as policy.IsLoopbackHost defines it.
func loopbackIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.User == nil && policy.IsLoopbackHost(u.Hostname())
}

// fileExists reports whether path exists; only a missing file is not an error.
func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// startDemo seeds the demo user and client (once) and serves the demo relying
// party on a second loopback port: a separate origin, running the real flow.
// runServe calls it only after checkDemoDataDir accepted the issuer and data_dir.
func startDemo(ctx context.Context, s *server, cfg *Config, out io.Writer, errc chan<- error) (*http.Server, error) {
	ln, err := net.Listen("tcp", demoListen)
	if err != nil {
		return nil, fmt.Errorf("demo relying party: listen on %s: %w", demoListen, err)
	}
	rpURL := "http://" + ln.Addr().String()
	scopes := slices.Clone(demorp.DefaultScopes)
	for _, sc := range cfg.Scopes {
		scopes = append(scopes, sc.Name)
	}
	dc := demorp.Config{
		Issuer: cfg.Issuer, ClientID: demoClientID, RedirectURL: rpURL + "/callback", Scopes: scopes,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     s.log,
	}
	secret, err := seedDemo(ctx, s.admin, cfg.DataDir, admin.AddClientInput{
		ID: demoClientID, Name: "Signet demo app", RedirectURIs: []string{dc.RedirectURL},
		PostLogoutRedirectURIs: []string{dc.PostLogoutRedirect()},
		BackchannelLogoutURI:   dc.BackchannelLogoutURL(),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	dc.ClientSecret = secret
	rp, err := demorp.New(dc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := newHTTPServer(web.SecurityHeaders(rp), s.log)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(out, "\nDemo relying party: %s\n", rpURL)
	fmt.Fprintf(out, "Demo credentials:   username %q, password %q\n", demoUsername, demoPassword)
	return srv, nil
}

// seedDemo creates the demo user and client if missing (or if the client's
// registration changed) and returns the client secret, kept in data_dir (0600) so
// that restarts reuse it.
func seedDemo(ctx context.Context, m *admin.Service, dataDir string, client admin.AddClientInput) (string, error) {
	if _, err := m.ShowUser(ctx, demoUsername); errors.Is(err, storage.ErrNotFound) {
		if _, err := m.AddUser(ctx, admin.AddUserInput{
			Username: demoUsername, Email: "demo@example.com", Name: "Demo Person", Password: demoPassword,
		}); err != nil {
			return "", fmt.Errorf("demo user: %w", err)
		}
	} else if err != nil {
		return "", fmt.Errorf("demo user: %w", err)
	}
	secretPath := filepath.Join(dataDir, "demo-client.secret")
	if b, err := os.ReadFile(secretPath); err == nil {
		if c, err := m.ShowClient(ctx, client.ID); err == nil && slices.Equal(c.RedirectURIs, client.RedirectURIs) &&
			slices.Equal(c.PostLogoutRedirectURIs, client.PostLogoutRedirectURIs) && c.BackchannelLogoutURI == client.BackchannelLogoutURI {
			return strings.TrimSpace(string(b)), nil
		}
	}
	if err := m.RemoveClient(ctx, client.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("demo client: %w", err)
	}
	created, err := m.AddClient(ctx, client)
	if err != nil {
		return "", fmt.Errorf("demo client: %w", err)
	}
	if err := os.WriteFile(secretPath, []byte(created.ClientSecret+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo client secret: %w", err)
	}
	return created.ClientSecret, nil
}

// scopeRegistry is every scope a person may be asked to approve, as the consent
// page shows it: the built-in ones, then the configured ones.
func scopeRegistry(cfg *Config) []web.Scope {
	var reg []web.Scope
	for _, sc := range policy.BuiltinScopes {
		reg = append(reg, web.Scope{Name: sc.Name, Description: sc.Description, Optional: sc.Optional})
	}
	for _, sc := range cfg.Scopes {
		reg = append(reg, web.Scope{Name: sc.Name, Description: sc.Description, Optional: sc.Optional})
	}
	return reg
}
