package main

// Two real `signet serve` processes on one PostgreSQL database behind a
// round-robin proxy, driven by a real relying party (go-oidc and x/oauth2):
// what an operator runs and what issue 15's harness checks.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage/postgres/pgtest"
)

// replicaSet is n `signet serve` processes sharing one database and one
// configuration, behind a proxy that sends each request to the next replica in
// turn, or to one replica while pin is set (>= 0). The turn is kept per path, so
// that every endpoint (not only every request) alternates whatever the pattern
// of a flow.
type replicaSet struct {
	t      *testing.T
	bin    string
	db     pgtest.DB // the replicas' database
	config string
	env    []string
	issuer string
	addrs  []string
	procs  []*signetProc
	pin    atomic.Int32
	mu     sync.Mutex
	turns  map[string]int         // path -> requests so far
	served map[string]map[int]int // path -> replica -> requests
}

func startReplicaProcesses(t *testing.T, n int) *replicaSet {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs signals")
	}
	db := pgtest.New(t)
	dsn := db.DSN
	rs := &replicaSet{t: t, bin: signettest.Binary(t), db: db, turns: map[string]int{}, served: map[string]map[int]int{}}
	rs.pin.Store(-1)
	rs.env = environ()
	for _, name := range []string{EnvKeyEncryptionKey, EnvCookieKey} {
		k := make([]byte, 32)
		rand.Read(k)
		rs.env = append(rs.env, name+"="+base64.StdEncoding.EncodeToString(k))
	}
	rs.env = append(rs.env, "SIGNET_DATABASE_URL="+dsn)

	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs.issuer = "http://" + front.Addr().String()
	var backends []*url.URL
	for range n {
		a := freeAddr(t)
		rs.addrs = append(rs.addrs, a)
		backends = append(backends, &url.URL{Scheme: "http", Host: a})
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			path := pr.In.URL.Path
			rs.mu.Lock()
			i := int(rs.pin.Load())
			if i < 0 {
				i = rs.turns[path] % n
				rs.turns[path]++
			}
			if rs.served[path] == nil {
				rs.served[path] = map[int]int{}
			}
			rs.served[path][i]++
			rs.mu.Unlock()
			pr.SetURL(backends[i])
			// The browser's address, as a load balancer reports it; a test
			// browser says which machine it stands for.
			pr.SetXForwarded()
			if a := pr.In.Header.Get(testClientHeader); a != "" {
				pr.Out.Header.Set("X-Forwarded-For", a)
				pr.Out.Header.Del(testClientHeader)
			}
			pr.Out.Host = pr.In.Host // the issuer's host, as a load balancer keeps it
		},
	}
	ts := &httptest.Server{Listener: front, Config: &http.Server{Handler: proxy}}
	ts.Start()
	t.Cleanup(ts.Close)

	// One configuration for every replica but its listen address (given by
	// flag-free means: each replica gets its own copy).
	for i, a := range rs.addrs {
		cfg := filepath.Join(t.TempDir(), "signet.yaml")
		// The proxy is trusted, so that the client address (X-Forwarded-For)
		// is the browser's, as behind a real load balancer.
		body := fmt.Sprintf("issuer: %s\nlisten: %s\nlog_level: warn\nstorage:\n  type: postgres\n"+
			"trusted_proxies: [127.0.0.1/32]\nthrottle:\n  address_failures: %d\n"+
			"passwords:\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  argon2_parallelism: 1\n", rs.issuer, a, replicaAddressFailures)
		if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			rs.config = cfg
		}
		rs.procs = append(rs.procs, rs.serve(cfg, a))
	}
	return rs
}

// serve starts one replica and waits until it is ready.
func (rs *replicaSet) serve(config, addr string) *signetProc {
	t := rs.t
	t.Helper()
	p := &signetProc{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(rs.bin, "--config", config, "serve")
	p.cmd.Env = rs.env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("replica %s output:\n%s", addr, p.out)
		}
	})
	if err := waitReady(p, addr, 20*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, p.out)
	}
	return p
}

// waitReady waits until p, a `signet serve` told to listen on addr, says it
// listens there and answers /readyz there. The test chose addr by closing a
// listener (freeAddr), so until p binds it, and tests run in parallel, another
// test's process may take it and would answer /readyz: only p's own line
// proves that p is the one listening.
func waitReady(p *signetProc, addr string, timeout time.Duration) error {
	listening := "(listening on " + addr + ")"
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(30 * time.Millisecond) {
		select {
		case <-p.exited:
			if strings.Contains(p.out.String(), "address already in use") {
				return fmt.Errorf("signet serve could not listen on %s: another process took the port after the test chose it", addr)
			}
			return fmt.Errorf("signet serve on %s exited: %v", addr, p.err)
		default:
		}
		if !strings.Contains(p.out.String(), listening) {
			continue
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("signet serve on %s did not become ready in %s", addr, timeout)
}

// cli runs a management command against the database (no server involved).
func (rs *replicaSet) cli(stdin string, args ...string) string {
	rs.t.Helper()
	code, out, errOut := runBinInput(rs.t, rs.bin, rs.env, stdin, append([]string{"--config", rs.config}, args...)...)
	if code != 0 {
		rs.t.Fatalf("signet %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// replicasServed is how many replicas answered requests for path.
func (rs *replicaSet) replicasServed(path string) int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.served[path])
}

// replicaRP is a relying party of the replica set, on go-oidc and x/oauth2.
type replicaRP struct {
	oauth    oauth2.Config
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	ctx      context.Context
}

func (rs *replicaSet) addRP(id string, extra ...string) *replicaRP {
	rs.t.Helper()
	redirect := "http://127.0.0.1:9/cb/" + id
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	args := append([]string{"client", "add", "--id", id, "--name", "App " + id, "--first-party",
		"--redirect-uri", redirect, "--output", "json"}, extra...)
	if err := json.Unmarshal([]byte(rs.cli("", args...)), &created); err != nil {
		rs.t.Fatal(err)
	}
	ctx := oidc.ClientContext(context.Background(), &http.Client{Timeout: 10 * time.Second})
	p, err := oidc.NewProvider(ctx, rs.issuer)
	if err != nil {
		rs.t.Fatal(err)
	}
	return &replicaRP{
		oauth: oauth2.Config{ClientID: id, ClientSecret: created.ClientSecret, Endpoint: p.Endpoint(),
			RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}},
		provider: p,
		verifier: p.Verifier(&oidc.Config{ClientID: id}),
		ctx:      ctx,
	}
}

// signIn runs the browser part of a code flow (signing in if asked) and
// exchanges the code, checking the ID token.
func (r *replicaRP) signIn(t *testing.T, b *signettest.Browser, user, pw string) *oauth2.Token {
	t.Helper()
	code, verifier := r.code(t, b, user, pw)
	tok, err := r.oauth.Exchange(r.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	r.checkID(t, tok)
	return tok
}

// code runs the browser part of a code flow and returns the code and verifier.
func (r *replicaRP) code(t *testing.T, b *signettest.Browser, user, pw string) (string, string) {
	t.Helper()
	state, nonce, verifier := signettest.RandHex(), signettest.RandHex(), oauth2.GenerateVerifier()
	p := b.Get(r.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
	if strings.Contains(p.Body, `name="password"`) {
		p = b.Login(p, user, pw)
	}
	if p.URL.Host != "127.0.0.1:9" || p.URL.Query().Get("state") != state || p.URL.Query().Get("code") == "" {
		t.Fatalf("no code: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	return p.URL.Query().Get("code"), verifier
}

func (r *replicaRP) checkID(t *testing.T, tok *oauth2.Token) *oidc.IDToken {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	id, err := r.verifier.Verify(r.ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	return id
}

func (r *replicaRP) refresh(rt string) (*oauth2.Token, error) {
	return r.oauth.TokenSource(r.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// postToken posts a refresh straight to one replica (bypassing the proxy).
func (r *replicaRP) postToken(addr, rt string) (int, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	tokenURL, err := url.Parse(r.oauth.Endpoint.TokenURL)
	if err != nil {
		return 0, err
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+tokenURL.Path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(r.oauth.ClientID, r.oauth.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// jwksOf fetches one replica's JWKS directly: its key ids and ETag.
func jwksOf(t *testing.T, addr, path string) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range set.Keys {
		kids[k.Kid] = true
	}
	return kids, resp.Header.Get("ETag")
}

// TestReplicaProcessesBehindProxy: two `signet serve` processes on one
// PostgreSQL database behind a round-robin proxy are one issuer to a relying
// party: sign-in, code exchange, userinfo and refreshes land on both; a code
// replayed on the other replica fails and revokes; two replicas refreshing one
// token at once give one success; a rotation made by the CLI reaches both
// JWKS; a lockout holds on both; a back-channel notice is sent once; and when
// one replica dies the other carries on with the tokens it issued.
func TestReplicaProcessesBehindProxy(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	rs := startReplicaProcesses(t, 2)
	rs.cli("correct horse battery\n", "user", "add", "alice", "--email", "alice@example.com", "--password-stdin")
	rs.cli("another good password\n", "user", "add", "bob", "--email", "bob@example.com", "--password-stdin")

	var notices atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bcl" {
			notices.Add(1)
		}
	}))
	t.Cleanup(rcv.Close)
	app := rs.addRP("app", "--backchannel-logout-uri", rcv.URL+"/bcl")

	// Round robin: every request of the flow may land on either replica.
	b := signettest.NewBrowser(t)
	tok := app.signIn(t, b, "alice", "correct horse battery")
	for range 3 {
		tok = app.signIn(t, b, "alice", "correct horse battery") // SSO: the session is shared
	}
	info, err := app.provider.UserInfo(app.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Email != "alice@example.com" {
		t.Fatalf("userinfo: %+v %v", info, err)
	}
	rt := tok.RefreshToken
	for i := range 4 {
		next, err := app.refresh(rt)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		app.checkID(t, next)
		rt = next.RefreshToken
	}
	tokenPath := mustParseURL(t, app.oauth.Endpoint.TokenURL).Path
	for _, path := range []string{"/authorize", "/login", tokenPath} {
		if n := rs.replicasServed(path); n != 2 {
			t.Errorf("%s was served by %d replica(s), want both", path, n)
		}
	}

	// A code issued through replica 0, redeemed on replica 1, replayed on 0.
	rs.pin.Store(0)
	code, verifier := app.code(t, b, "alice", "correct horse battery")
	rs.pin.Store(1)
	first, err := app.oauth.Exchange(app.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("code from replica 0 redeemed on replica 1: %v", err)
	}
	rs.pin.Store(0)
	if _, err := app.oauth.Exchange(app.ctx, code, oauth2.VerifierOption(verifier)); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("replay on replica 0: %v, want invalid_grant", err)
	}
	if _, err := app.refresh(first.RefreshToken); err == nil {
		t.Fatal("the refresh token of a replayed code still works")
	}
	rs.pin.Store(-1)

	// Each replica gets the same refresh token at once: exactly one succeeds.
	for round := range 3 {
		fresh := app.signIn(t, b, "alice", "correct horse battery")
		var wg sync.WaitGroup
		status := make([]int, len(rs.addrs))
		for i, addr := range rs.addrs {
			wg.Go(func() {
				st, err := app.postToken(addr, fresh.RefreshToken)
				if err != nil {
					t.Error(err)
				}
				status[i] = st
			})
		}
		wg.Wait()
		ok := 0
		for _, st := range status {
			if st == http.StatusOK {
				ok++
			} else if st != http.StatusBadRequest {
				t.Fatalf("round %d: a racing refresh got %d, want 200 or 400", round, st)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of %d racing refreshes succeeded (%v), want exactly 1", round, ok, len(status), status)
		}
	}

	// A rotation by the CLI, in the database: both replicas serve the new
	// JWKS (and the same ETag) within seconds, and tokens signed by the new
	// key verify.
	jwksPath := mustParseURL(t, discoveryValue(t, rs.issuer, "jwks_uri")).Path
	before, _ := jwksOf(t, rs.addrs[0], jwksPath)
	rs.cli("", "keys", "rotate")
	deadline := time.Now().Add(15 * time.Second)
	for {
		k0, e0 := jwksOf(t, rs.addrs[0], jwksPath)
		k1, e1 := jwksOf(t, rs.addrs[1], jwksPath)
		if !maps.Equal(k0, before) && maps.Equal(k0, k1) && e0 == e1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after keys rotate: replica 0 %v (%s), replica 1 %v (%s), before %v", k0, e0, k1, e1, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	next, err := app.refresh(rt)
	if err != nil {
		t.Fatalf("refresh after the rotation: %v", err)
	}
	rt = next.RefreshToken
	// A verifier that fetches the JWKS afresh, as a relying party whose cache
	// expired would.
	fresh, err := oidc.NewProvider(app.ctx, rs.issuer)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := next.Extra("id_token").(string)
	if _, err := fresh.Verifier(&oidc.Config{ClientID: "app"}).Verify(app.ctx, raw); err != nil {
		t.Fatalf("an ID token signed after the rotation: %v", err)
	}

	// Wrong passwords through the proxy (from several addresses; the proxy's
	// turns put each POST /login on the same replica) lock bob's account on
	// both: the right password is then refused by each.
	for i := range 5 {
		if p := rs.tryLogin(t, app, fmt.Sprintf("198.51.100.%d", i+1), "bob", "not bob's password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d\n%s", i, p.Status, p.Body)
		}
	}
	// The failures are counted in the background (a wrong password takes no
	// longer than an unknown name): wait for the lock to be stored.
	waitUntil(t, 10*time.Second, "bob's lock", func() bool {
		return strings.Contains(rs.cli("", "user", "show", "bob"), "locked until:")
	})
	for i := range rs.addrs {
		rs.pin.Store(int32(i))
		if p := rs.tryLogin(t, app, "198.51.100.10", "bob", "another good password"); p.URL.Host == "127.0.0.1:9" || p.Status != http.StatusUnauthorized {
			t.Fatalf("the right password on replica %d while bob is locked: %d %s", i, p.Status, p.URL)
		}
	}
	rs.cli("", "user", "unlock", "bob")
	for i := range rs.addrs {
		rs.pin.Store(int32(i))
		if p := rs.tryLogin(t, app, "198.51.100.11", "bob", "another good password"); p.URL.Host != "127.0.0.1:9" {
			t.Fatalf("the right password on replica %d after unlock: %d %s", i, p.Status, p.URL)
		}
	}
	rs.pin.Store(-1)

	// Failures from one client address, counted by one replica, lock that
	// address on both (429), whoever signs in from it.
	for i := range replicaAddressFailures {
		if p := rs.tryLogin(t, app, "203.0.113.9", fmt.Sprintf("nobody%d", i), "a guess"); p.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d from one address: %d", i+1, p.Status)
		}
	}
	for i := range rs.addrs {
		rs.pin.Store(int32(i))
		if p := rs.tryLogin(t, app, "203.0.113.9", "bob", "another good password"); p.Status != http.StatusTooManyRequests {
			t.Fatalf("replica %d: a sign-in from an address locked by failures the replicas counted: %d, want 429", i, p.Status)
		}
	}
	rs.pin.Store(-1)

	// Changes made by the CLI in the database hold on every replica at once:
	// a removed client's and a disabled person's refresh tokens are refused
	// by both.
	other := rs.addRP("other")
	otherTok := other.signIn(t, signettest.NewBrowser(t), "alice", "correct horse battery")
	plain := rs.addRP("plain") // no back-channel logout: bob's disabling sends app nothing
	bobTok := plain.signIn(t, signettest.NewBrowser(t), "bob", "another good password")
	rs.cli("", "client", "remove", "other")
	rs.cli("", "user", "disable", "bob")
	for i, addr := range rs.addrs {
		if st, err := other.postToken(addr, otherTok.RefreshToken); err != nil || st == http.StatusOK {
			t.Errorf("replica %d refreshed for a removed client: %d %v", i, st, err)
		}
		if st, err := plain.postToken(addr, bobTok.RefreshToken); err != nil || st == http.StatusOK {
			t.Errorf("replica %d refreshed for a disabled person: %d %v", i, st, err)
		}
	}

	// Signing alice out everywhere (CLI, in the database) queues one notice
	// for app; both replicas' delivery loops run, and it is sent once.
	// A delivery loop sends only a notice it claimed in the database, and the
	// one that sent it deletes it: once it is gone from the queue, neither
	// replica can send it again.
	rs.cli("", "user", "logout", "alice")
	waitUntil(t, 20*time.Second, "the back-channel notice, delivered and gone from the queue", func() bool {
		return notices.Load() >= 1 && rs.queuedLogouts() == 0
	})
	if n := notices.Load(); n != 1 {
		t.Fatalf("%d back-channel notices for one session, want 1", n)
	}

	// Replica 1 dies; replica 0 alone still honours what both issued.
	rs.procs[1].cmd.Process.Kill()
	<-rs.procs[1].exited
	rs.pin.Store(0)
	b2 := signettest.NewBrowser(t)
	tok = app.signIn(t, b2, "alice", "correct horse battery")
	if _, err := app.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("refresh on the surviving replica: %v", err)
	}
}

// replicaAddressFailures is the replicas' throttle.address_failures.
const replicaAddressFailures = 4

// testClientHeader tells the test proxy which client address a browser
// stands for.
const testClientHeader = "X-Test-Client-Address"

// forwardedFor makes every request of a browser come from address addr.
type forwardedFor struct {
	addr string
	next http.RoundTripper
}

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(testClientHeader, f.addr)
	return f.next.RoundTrip(r)
}

// tryLogin starts a code flow in a new browser at client address addr and
// submits user and pw.
func (rs *replicaSet) tryLogin(t *testing.T, app *replicaRP, addr, user, pw string) signettest.Page {
	t.Helper()
	b := signettest.NewBrowser(t)
	b.Client.Transport = forwardedFor{addr: addr, next: http.DefaultTransport}
	p := b.Get(app.oauth.AuthCodeURL(signettest.RandHex(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	return b.Login(p, user, pw)
}

// discoveryValue reads one string field of the issuer's discovery document.
func discoveryValue(t *testing.T, issuer, field string) string {
	t.Helper()
	resp, err := http.Get(issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	s, _ := doc[field].(string)
	return s
}

// queuedLogouts is how many back-channel notices wait in the replicas'
// database.
func (rs *replicaSet) queuedLogouts() int {
	rs.t.Helper()
	var n int
	if err := pgtest.Admin().QueryRow(rs.t.Context(), "SELECT count(*) FROM "+rs.db.Schema+".logouts").Scan(&n); err != nil {
		rs.t.Fatalf("count the queued back-channel notices: %v", err)
	}
	return n
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestWaitReadyIsOurs: a server of another test answering /readyz on the
// replica's port is never taken for the replica, and a replica that could not
// bind the port says why.
func TestWaitReadyIsOurs(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("needs sh")
	}
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	t.Cleanup(foreign.Close)
	addr := foreign.Listener.Addr().String()
	start := func(script string) *signetProc {
		p := &signetProc{out: &syncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command("sh", "-c", script)
		p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
		return p
	}
	taken := start("echo 'signet: listen on " + addr + ": listen tcp " + addr + ": bind: address already in use' >&2; exit 1")
	if err := waitReady(taken, addr, 5*time.Second); err == nil || !strings.Contains(err.Error(), "another process took the port") {
		t.Errorf("a replica that could not bind: %v, want it to say the port was taken", err)
	}
	silent := start("exec sleep 30")
	if err := waitReady(silent, addr, 300*time.Millisecond); err == nil {
		t.Error("the other server's /readyz was taken for the replica's")
	}
	ours := start("echo 'Signet is serving http://x (listening on " + addr + ")'; exec sleep 30")
	if err := waitReady(ours, addr, 5*time.Second); err != nil {
		t.Errorf("a replica that says it listens on %s and answers there: %v", addr, err)
	}
}
