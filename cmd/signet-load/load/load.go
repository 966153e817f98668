// Package load drives a running OpenID Connect provider over HTTP, one scenario
// at a time, for a fixed duration and concurrency, and reports per scenario the
// operations done, their rate, p50 and p99 latency and errors, and (given the
// server's PID) its resident memory. cmd/signet-load is its command line; tests
// run it against the real wiring on httptest.
//
// It acts like real relying parties and browsers: endpoints come from the
// discovery document, every authorization uses PKCE S256, state and nonce, the
// login form is filled from the page as rendered (hidden inputs included), and
// redirects are followed only within the issuer. It does not verify token
// signatures (that would spend the CPU it shares with the server on loopback);
// it checks that every answer has the status and fields a relying party needs.
//
// It is bounded: every scenario starts operations for its duration or until
// MaxRequests have started, whichever comes first, then waits for those in
// flight, each bounded by RequestTimeout; the whole run stops at Timeout, which
// cancels what is in flight. It refuses targets that are not loopback addresses
// unless AllowRemote is set.
package load

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenario names.
const (
	Discovery  = "discovery"
	JWKS       = "jwks"
	Login      = "login"
	Code       = "code"
	Refresh    = "refresh"
	Userinfo   = "userinfo"
	Introspect = "introspect"
)

// AllScenarios lists every scenario in the order Run runs them.
var AllScenarios = []string{Discovery, JWKS, Login, Code, Refresh, Userinfo, Introspect}

// Config configures Run. Zero fields take the defaults documented on them.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is fetched
	// from Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Duration is how long each scenario's measured phase starts operations
	// (10s). Those in flight at its end finish (each within RequestTimeout) and
	// count, so the measured phase lasts at most Duration + RequestTimeout.
	Duration time.Duration
	// Concurrency is the number of workers, each with one operation in flight (16).
	Concurrency int
	// MaxRequests caps the operations of each scenario (1,000,000).
	MaxRequests int
	// Scenarios to run, in this order (AllScenarios).
	Scenarios []string
	// ClientID and ClientSecret identify a registered client whose redirect URIs
	// include RedirectURI. An empty secret means a public client.
	ClientID     string
	ClientSecret string
	RedirectURI  string
	// Scopes requested ("openid profile email offline_access"); the refresh
	// scenario needs offline_access.
	Scopes []string
	// Username and Password sign in; UsernameField and PasswordField are the
	// login form's field names ("username", "password"). When the page has no
	// field of that name, the first text field and the password field are used.
	Username, Password           string
	UsernameField, PasswordField string
	// CodePool is how many codes the code scenario obtains (untimed) before it
	// times their exchange; it repeats until Duration of exchanges (1000).
	// Codes expire (about a minute): a pool is obtained in at most 20 seconds.
	CodePool int
	// PID, when not zero, is the server's process id, or that of a process it
	// descends from (a shell, `go run`): the resident memory of PID and all its
	// descendants is sampled from /proc during the run and summed.
	PID int
	// AllowRemote permits a target that is not a loopback address.
	AllowRemote bool
	// Timeout is the hard bound on the whole run, setup included (scenarios x
	// (Duration + 1m)): operations in flight when it passes are cancelled and
	// counted in Result.Cancelled, not as errors.
	Timeout time.Duration
	// RequestTimeout bounds one operation (a whole sign-in in the login
	// scenario) and each setup step (30s); one that takes longer is an error.
	RequestTimeout time.Duration
}

// Result is one scenario's figures. An operation is one HTTP request, except in
// the login scenario, where it is a whole sign-in (authorize, login form,
// callback and code exchange: HTTPRequests counts the requests).
type Result struct {
	Scenario     string `json:"scenario"`
	Requests     int    `json:"requests"`
	HTTPRequests int    `json:"http_requests"`
	Errors       int    `json:"errors"`
	// Cancelled counts operations cut off by the run's own end (Timeout, or
	// the context given to Run): not the server's failures, so not in Errors
	// nor in Requests.
	Cancelled int `json:"cancelled"`
	// Elapsed is the measured time (PerSecond is over it): Duration, or less
	// when MaxRequests came first, plus Drain.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Drain is the part of Elapsed after Duration spent waiting for the
	// operations in flight.
	Drain time.Duration `json:"drain_ns"`
	// Wall is the scenario's wall time: Elapsed plus its untimed setup.
	Wall      time.Duration `json:"wall_ns"`
	PerSecond float64       `json:"requests_per_second"`
	P50       time.Duration `json:"p50_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
	// FirstError describes the first failure, if any.
	FirstError string `json:"first_error,omitempty"`
	// Stopped says why the scenario was cut short (the run's timeout or an
	// interrupt); empty when it ran its course.
	Stopped string `json:"stopped,omitempty"`
	// PeakRSS is the highest sampled sum of VmRSS of the measured processes
	// during the scenario (bytes; zero without a PID).
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Issuer         string        `json:"issuer"`
	Concurrency    int           `json:"concurrency"`
	Duration       time.Duration `json:"duration_ns"`
	RequestTimeout time.Duration `json:"request_timeout_ns"`
	Timeout        time.Duration `json:"timeout_ns"`
	Results        []Result      `json:"results"`
	// PID is the process given; PeakRSS is the highest sampled sum of VmRSS of
	// it and its descendants over the run, and HWM the largest VmHWM (peak
	// since it started) of one of them, in bytes. Processes lists them.
	PID       int       `json:"pid,omitempty"`
	PeakRSS   int64     `json:"peak_rss_bytes,omitempty"`
	HWM       int64     `json:"vm_hwm_bytes,omitempty"`
	Processes []Process `json:"processes,omitempty"`
	// Warnings are doubts about the figures, such as a PID that cannot be
	// the server's.
	Warnings []string `json:"warnings,omitempty"`
	// AccessTokenAlg and IDTokenAlg are the JWS algorithms of the first token
	// answer (empty for an opaque access token): what a reference server must
	// sign with to be compared (Compare).
	AccessTokenAlg string `json:"access_token_alg,omitempty"`
	IDTokenAlg     string `json:"id_token_alg,omitempty"`
}

// Errors returns the total number of errors.
func (r *Report) Errors() int {
	n := 0
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

// succeeded returns the number of operations that succeeded.
func (r *Report) succeeded() int {
	n := 0
	for _, res := range r.Results {
		n += res.Requests - res.Errors
	}
	return n
}

// Result returns the named scenario's result.
func (r *Report) Result(scenario string) (Result, bool) {
	for _, res := range r.Results {
		if res.Scenario == scenario {
			return res, true
		}
	}
	return Result{}, false
}

// checkNegative refuses negative numbers: zero, not a negative, selects a
// default, and a negative would otherwise silently become one.
func (c *Config) checkNegative() error {
	var bad []string
	for name, neg := range map[string]bool{
		"Duration":       c.Duration < 0,
		"Concurrency":    c.Concurrency < 0,
		"MaxRequests":    c.MaxRequests < 0,
		"CodePool":       c.CodePool < 0,
		"PID":            c.PID < 0,
		"Timeout":        c.Timeout < 0,
		"RequestTimeout": c.RequestTimeout < 0,
	} {
		if neg {
			bad = append(bad, name)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fmt.Errorf("negative %s (zero selects the default)", strings.Join(bad, ", "))
	}
	return nil
}

func (c *Config) applyDefaults() {
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = 1_000_000
	}
	if len(c.Scenarios) == 0 {
		c.Scenarios = AllScenarios
	}
	if len(c.Scopes) == 0 {
		c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	}
	if c.UsernameField == "" {
		c.UsernameField = "username"
	}
	if c.PasswordField == "" {
		c.PasswordField = "password"
	}
	if c.CodePool <= 0 {
		c.CodePool = 1000
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Duration(len(c.Scenarios)) * (c.Duration + time.Minute)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
}

func (c *Config) validate() error {
	var problems []string
	u, err := url.Parse(c.Issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("issuer %q is not an http(s) URL", c.Issuer))
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			problems = append(problems, fmt.Sprintf("unknown scenario %q (known: %s)", s, strings.Join(AllScenarios, ", ")))
		}
	}
	needsClient := slices.ContainsFunc(c.Scenarios, func(s string) bool { return s != Discovery && s != JWKS })
	if needsClient {
		if c.ClientID == "" {
			problems = append(problems, "a client id is required for the login, code, refresh, userinfo and introspect scenarios")
		}
		if c.RedirectURI == "" {
			problems = append(problems, "a redirect URI (registered for the client) is required")
		}
		if c.Username == "" || c.Password == "" {
			problems = append(problems, "a username and password are required to sign in")
		}
	}
	if slices.Contains(c.Scenarios, Refresh) && !slices.Contains(c.Scopes, "offline_access") {
		problems = append(problems, "the refresh scenario needs the offline_access scope")
	}
	if slices.Contains(c.Scenarios, Introspect) && c.ClientSecret == "" {
		problems = append(problems, "the introspect scenario needs a confidential client (a client secret)")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// Run runs the scenarios one after the other and writes a table of the results
// to out (if not nil). It returns an error when the target cannot be used at
// all; failures during a scenario are counted in its Result.
func Run(ctx context.Context, cfg Config, out io.Writer) (*Report, error) {
	if err := cfg.checkNegative(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// The cause names the bound in what a cut-short scenario reports.
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("--timeout %s passed", cfg.Timeout))
	defer cancel()
	if !cfg.AllowRemote {
		if err := checkLoopback(ctx, cfg.Issuer); err != nil {
			return nil, err
		}
	}
	if cfg.RedirectURI != "" && strings.HasPrefix(cfg.RedirectURI, cfg.Issuer+"/") {
		return nil, fmt.Errorf("the redirect URI %s must not be on the issuer", cfg.RedirectURI)
	}
	r := &runner{cfg: cfg}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !cfg.AllowRemote {
		// Checked again on every connection, on the address actually dialled.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
			}
			return nil
		}
	}
	r.transport = &http.Transport{
		Proxy:               nil, // loopback: never through a proxy
		DialContext:         dialer.DialContext,
		MaxIdleConns:        4 * cfg.Concurrency,
		MaxIdleConnsPerHost: 4 * cfg.Concurrency,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	defer r.transport.CloseIdleConnections()
	dctx, dcancel := context.WithTimeout(ctx, cfg.RequestTimeout)
	err := r.discover(dctx)
	dcancel()
	if err != nil {
		return nil, err
	}
	if !cfg.AllowRemote {
		for _, e := range []string{r.endpoints.Authorization, r.endpoints.Token, r.endpoints.Userinfo, r.endpoints.Introspection, r.endpoints.JWKS} {
			if e == "" {
				continue
			}
			if err := checkLoopback(ctx, e); err != nil {
				return nil, fmt.Errorf("discovery document: %w", err)
			}
		}
	}

	var mem *memSampler
	if cfg.PID != 0 {
		var err error
		if mem, err = startMemSampler(cfg.PID, 50*time.Millisecond); err != nil {
			return nil, err
		}
		defer mem.stop()
	}

	rep := &Report{Issuer: cfg.Issuer, Concurrency: cfg.Concurrency, Duration: cfg.Duration,
		RequestTimeout: cfg.RequestTimeout, Timeout: cfg.Timeout, PID: cfg.PID}
	for _, sc := range cfg.Scenarios {
		if ctx.Err() != nil {
			break
		}
		if mem != nil {
			mem.resetWindow()
		}
		start := time.Now()
		res := r.scenario(ctx, sc)
		res.Wall = time.Since(start)
		if mem != nil {
			res.PeakRSS = mem.windowPeak()
		}
		rep.Results = append(rep.Results, res)
	}
	rep.AccessTokenAlg, rep.IDTokenAlg = r.algs()
	if mem != nil {
		rep.PeakRSS, rep.HWM, rep.Processes = mem.peaks()
		if rep.PeakRSS < notServerRSS && rep.succeeded() > 0 {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"the measured processes (PID %d and its descendants) never held more than %s in all while %d operations succeeded: PID %d is probably not the server's (give the server's PID, or that of the shell or go run that started it)",
				cfg.PID, mib(rep.PeakRSS), rep.succeeded(), cfg.PID))
		}
	}
	if out != nil {
		WriteTable(out, rep)
	}
	done := 0
	for _, res := range rep.Results {
		if res.Stopped == "" {
			done++
		}
	}
	if done < len(cfg.Scenarios) {
		return rep, fmt.Errorf("stopped after %d of %d scenarios: %w", done, len(cfg.Scenarios), context.Cause(ctx))
	}
	return rep, nil
}

// notServerRSS is less memory than any server answering requests holds
// (Signet idles at about 20 MiB): below it, the PID is likely something else.
const notServerRSS = 8 << 20

// checkLoopback refuses a URL whose host is not (or does not resolve only to)
// loopback addresses.
func checkLoopback(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("target %q: %w", raw, err)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s is not a loopback address (use --allow-remote to drive another host)", host)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("target %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return fmt.Errorf("target %s has no address", host)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("target %s resolves to %s, not a loopback address (use --allow-remote to drive another host)", host, a.IP)
		}
	}
	return nil
}

// runner holds what every scenario shares.
type runner struct {
	cfg       Config
	transport *http.Transport
	endpoints endpoints

	algOnce          sync.Once
	algMu            sync.Mutex
	accessAlg, idAlg string
}

// noteAlgs records the algorithms of the first token answer.
func (r *runner) noteAlgs(tr *tokenResponse) {
	r.algOnce.Do(func() {
		r.algMu.Lock()
		defer r.algMu.Unlock()
		r.accessAlg, r.idAlg = jwsAlg(tr.AccessToken), jwsAlg(tr.IDToken)
	})
}

func (r *runner) algs() (string, string) {
	r.algMu.Lock()
	defer r.algMu.Unlock()
	return r.accessAlg, r.idAlg
}

// jwsAlg returns the alg of a compact JWS's header, or "" for anything else.
func jwsAlg(token string) string {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.Alg
}

// op is one timed operation of a worker; it returns how many HTTP requests it made.
type op func(ctx context.Context) (httpRequests int, err error)

// scenario prepares and runs one scenario.
func (r *runner) scenario(ctx context.Context, name string) Result {
	res := Result{Scenario: name}
	var (
		m   *measurement
		err error
	)
	switch name {
	case Discovery:
		m = r.measure(ctx, r.cfg.Duration, r.cfg.MaxRequests, r.getOps(r.cfg.Issuer+"/.well-known/openid-configuration"))
	case JWKS:
		m = r.measure(ctx, r.cfg.Duration, r.cfg.MaxRequests, r.getOps(r.endpoints.JWKS))
	case Login:
		m = r.measure(ctx, r.cfg.Duration, r.cfg.MaxRequests, r.loginOps())
	case Code:
		m, err = r.codeScenario(ctx)
	case Refresh:
		var ops []op
		if ops, err = r.refreshOps(ctx); err == nil {
			m = r.measure(ctx, r.cfg.Duration, r.cfg.MaxRequests, ops)
		}
	case Userinfo, Introspect:
		var ops []op
		if ops, err = r.tokenOps(ctx, name); err == nil {
			m = r.measure(ctx, r.cfg.Duration, r.cfg.MaxRequests, ops)
		}
	}
	if ctx.Err() != nil {
		// Cut short by the run's end: whatever the setup or measurement
		// reported then is the tool's doing, not the server's.
		res.Stopped = context.Cause(ctx).Error()
		if err != nil {
			return res
		}
	}
	if err != nil {
		res.Errors = 1
		res.FirstError = "setup: " + err.Error()
		return res
	}
	m.fill(&res)
	return res
}

// measurement collects the latencies and errors of a measured phase.
type measurement struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	cancelled int
	http      int
	firstErr  string
	elapsed   time.Duration
	drain     time.Duration
}

func (m *measurement) fill(res *Result) {
	res.Requests = len(m.latencies)
	res.HTTPRequests = m.http
	res.Errors = m.errors
	res.Cancelled = m.cancelled
	res.FirstError = m.firstErr
	res.Elapsed = m.elapsed
	res.Drain = m.drain
	if m.elapsed > 0 {
		res.PerSecond = float64(res.Requests) / m.elapsed.Seconds()
	}
	if len(m.latencies) > 0 {
		slices.Sort(m.latencies)
		res.P50 = percentile(m.latencies, 0.50)
		res.P99 = percentile(m.latencies, 0.99)
		res.Max = m.latencies[len(m.latencies)-1]
	}
}

// percentile is the nearest-rank percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// measure runs one worker per op (each op carries its worker's state) until
// duration has passed or max operations have started. Operations in flight at
// the deadline finish (within RequestTimeout) and count; those cut off by the
// end of ctx count as cancelled.
func (r *runner) measure(ctx context.Context, duration time.Duration, limit int, ops []op) *measurement {
	m := &measurement{}
	r.measureInto(ctx, m, duration, limit, ops)
	return m
}

// measureInto is measure adding to m.
func (r *runner) measureInto(ctx context.Context, m *measurement, duration time.Duration, limit int, ops []op) {
	var started atomic.Int64
	start := time.Now()
	deadline := start.Add(duration)
	var wg sync.WaitGroup
	for _, o := range ops {
		wg.Go(func() {
			var local []time.Duration
			errs, cancelled, reqs := 0, 0, 0
			first := ""
			for ctx.Err() == nil && time.Now().Before(deadline) && started.Add(1) <= int64(limit) {
				rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
				t0 := time.Now()
				n, err := o(rctx)
				d := time.Since(t0)
				timedOut := rctx.Err() != nil
				cancel()
				if errors.Is(err, errPoolEmpty) {
					started.Add(-1)
					break
				}
				reqs += n
				if err != nil && ctx.Err() != nil {
					// The run ended under it: no answer to judge, no latency.
					cancelled++
					continue
				}
				local = append(local, d)
				if err != nil {
					errs++
					if timedOut {
						err = fmt.Errorf("no answer within --request-timeout %s: %w", r.cfg.RequestTimeout, err)
					}
					if first == "" {
						first = err.Error()
					}
				}
			}
			m.mu.Lock()
			m.latencies = append(m.latencies, local...)
			m.errors += errs
			m.cancelled += cancelled
			m.http += reqs
			if m.firstErr == "" {
				m.firstErr = first
			}
			m.mu.Unlock()
		})
	}
	wg.Wait()
	m.elapsed += time.Since(start)
	m.drain += max(0, time.Since(deadline))
}

// errPoolEmpty ends a worker of the code scenario when the pool of codes is used up.
var errPoolEmpty = errors.New("no code left in the pool")

func (r *runner) getOps(target string) []op {
	ops := make([]op, r.cfg.Concurrency)
	for i := range ops {
		c := r.client(nil)
		ops[i] = func(ctx context.Context) (int, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return 0, err
			}
			req.Header.Set("Accept", "application/json")
			resp, err := c.Do(req)
			if err != nil {
				return 1, err
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil {
				return 1, err
			}
			if resp.StatusCode != http.StatusOK || n == 0 {
				return 1, fmt.Errorf("GET %s: %s (%d bytes)", target, resp.Status, n)
			}
			return 1, nil
		}
	}
	return ops
}

// client returns an HTTP client on the shared transport that does not follow
// redirects (the browser follows them itself).
func (r *runner) client(jar http.CookieJar) *http.Client {
	return &http.Client{
		Transport: r.transport,
		Jar:       jar,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
