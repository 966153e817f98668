package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage/postgres/pgtest"
	"github.com/signet-idp/signet/web/credentials/throttle"
)

func TestMain(m *testing.M) {
	os.Exit(signettest.Main(m))
}

// newSharedSecrets makes the two keys an operator gives every replica.
func newSharedSecrets() *Secrets {
	var s Secrets
	rand.Read(s.KeyEncryptionKey[:])
	rand.Read(s.CookieKey[:])
	return &s
}

// setSharedSecrets puts fresh keys in the environment, as an operator gives
// every replica the same two, and returns them (for commands that read the
// environment; servers in tests take them with withSecrets).
func setSharedSecrets(t *testing.T) *Secrets {
	s := newSharedSecrets()
	for env, k := range map[string][32]byte{EnvKeyEncryptionKey: s.KeyEncryptionKey, EnvCookieKey: s.CookieKey} {
		t.Setenv(env, base64.StdEncoding.EncodeToString(k[:]))
		t.Setenv(env+fileEnvSuffix, "")
		os.Unsetenv(env + fileEnvSuffix)
	}
	return s
}

// replicas is n servers wired on one PostgreSQL database behind one listener
// (one issuer); next picks which replica answers the next requests.
type replicas struct {
	*testIssuer
	servers []*server
	next    atomic.Int32
}

func startReplicas(t *testing.T, n int) *replicas {
	t.Helper()
	return startReplicasOn(t, pgtest.DSN(t), n, newSharedSecrets())
}

// startReplicasOn is startReplicas on the database dsn names, with the secrets
// sec.
func startReplicasOn(t *testing.T, dsn string, n int, sec *Secrets) *replicas {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	cfg.Storage = StorageConfig{Type: StoragePostgres, DSN: dsn}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &replicas{}
	iss := signettest.Start(t, ln, cfg.Issuer, func(ctx context.Context, now func() time.Time) (http.Handler, error) {
		for range n {
			s, err := newServer(ctx, cfg, now, withSecrets(sec), withLogger(signettest.Logger(t)))
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { s.store.Close() })
			r.servers = append(r.servers, s)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.servers[r.next.Load()].handler.ServeHTTP(w, req)
		}), nil
	})
	r.testIssuer = &testIssuer{Issuer: iss, srv: r.servers[0]}
	if _, err := r.servers[1].admin.AddUser(r.Ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com",
		Name: "Alice Example", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestPostgresReplicas: two servers on one PostgreSQL database act as one
// issuer: a browser signs in on one, the code is redeemed on the other, a
// replay on the first fails and revokes, and refreshes rotate on either.
func TestPostgresReplicas(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, 2)
	app := r.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)

	r.next.Store(0)
	code, ap := app.SignIn(b)
	r.next.Store(1)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatalf("code from replica 0 redeemed on replica 1: %v", err)
	}
	app.VerifyID(tok, ap.Nonce)
	r.next.Store(0)
	if _, err := app.Exchange(code, ap); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("replay on replica 0: %v, want invalid_grant", err)
	}
	if _, err := app.Refresh(tok.RefreshToken); err == nil {
		t.Fatal("the refresh token of a replayed code still works")
	}

	// A fresh sign-in (the browser's session is shared), refreshed in turn on
	// both replicas; the rotated token is refused on the other.
	code, ap = app.SignIn(b)
	r.next.Store(1)
	tok, err = app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	rt := tok.RefreshToken
	for i := range 4 {
		r.next.Store(int32(i % 2))
		next, err := app.Refresh(rt)
		if err != nil {
			t.Fatalf("refresh %d on replica %d: %v", i, i%2, err)
		}
		rt = next.RefreshToken
	}
	r.next.Store(1)
	if _, err := app.Refresh(tok.RefreshToken); err == nil {
		t.Fatal("a rotated refresh token was accepted by the other replica")
	}
	r.next.Store(0)
	if _, err := app.Refresh(rt); err == nil {
		t.Fatal("the family survived the reuse of a rotated token")
	}
}

// TestPostgresSecretsFromEnvironment: with PostgreSQL nothing generates the
// keys: serve refuses to start without them, naming both ways to give them.
func TestPostgresSecretsFromEnvironment(t *testing.T) {
	for _, env := range []string{EnvKeyEncryptionKey, EnvCookieKey} {
		t.Setenv(env, "")
		os.Unsetenv(env)
		t.Setenv(env+fileEnvSuffix, "")
		os.Unsetenv(env + fileEnvSuffix)
	}
	_, err := LoadSharedSecrets()
	if err == nil {
		t.Fatal("LoadSharedSecrets without the environment succeeded")
	}
	for _, want := range []string{EnvKeyEncryptionKey, EnvKeyEncryptionKey + fileEnvSuffix, "never generates"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	cfg := testConfig(t)
	cfg.Storage = StorageConfig{Type: StoragePostgres, DSN: "postgres://signet@db.invalid/signet"}
	if _, err := newServer(t.Context(), cfg, time.Now); err == nil || !strings.Contains(err.Error(), EnvKeyEncryptionKey) {
		t.Errorf("newServer with postgres and no keys: %v", err)
	}
	if _, err := os.Stat(cfg.DataDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("newServer with postgres touched data_dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, KeyEncryptionKeyFile)); err == nil {
		t.Error("a key file was generated")
	}
}

// TestStorageConfig: storage.type and storage.dsn are checked with the rest of
// the file, a password in the file is refused without being repeated, and
// SIGNET_DATABASE_URL overrides the file.
func TestStorageConfig(t *testing.T) {
	t.Setenv(EnvDatabaseURL, "")
	os.Unsetenv(EnvDatabaseURL)
	for _, tc := range []struct {
		name, body string
		want       []string // problems; none means valid
	}{
		{"default", "data_dir: /tmp/x\n", nil},
		{"postgres url", "storage:\n  type: postgres\n  dsn: postgres://signet@db.internal:5432/signet?sslmode=verify-full\n", nil},
		{"postgres pairs", "storage:\n  type: postgres\n  dsn: host=db.internal user=signet dbname=signet\n", nil},
		{"postgres without dsn", "storage:\n  type: postgres\n", []string{"storage.dsn: required with type postgres"}},
		{"password in url", "storage:\n  type: postgres\n  dsn: postgres://signet:hunter2@db/signet\n", []string{"line 3: storage.dsn: holds a password"}},
		{"password pair", "storage:\n  type: postgres\n  dsn: host=db password=hunter2\n", []string{"line 3: storage.dsn: holds a password"}},
		{"bbolt with dsn", "storage:\n  dsn: host=db\n", []string{"storage.dsn: is for type postgres"}},
		{"unknown type", "storage:\n  type: mysql\n", []string{`storage.type: "mysql" is not bbolt or postgres`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.body))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no problem found, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("problems %q do not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the problem repeats the password: %v", err)
			}
		})
	}

	// "required" names the key even when the file lacks the dsn line.
	if _, err := LoadConfig(writeConfig(t, "storage:\n  type: postgres\n")); err == nil || !strings.Contains(err.Error(), EnvDatabaseURL) {
		t.Errorf("postgres without dsn: %v, want a problem naming %s", err, EnvDatabaseURL)
	}
	t.Setenv(EnvDatabaseURL, "postgres://signet:pw@db.internal/signet")
	cfg, err := LoadConfig(writeConfig(t, "storage:\n  type: postgres\n"))
	if err != nil {
		t.Fatalf("postgres with %s: %v", EnvDatabaseURL, err)
	}
	if got := cfg.Storage.DatabaseURL(); got != "postgres://signet:pw@db.internal/signet" {
		t.Errorf("DatabaseURL = %q, want the environment's", got)
	}
	cfg, err = LoadConfig(writeConfig(t, "storage:\n  type: postgres\n  dsn: host=elsewhere\n"))
	if err != nil || cfg.Storage.DatabaseURL() != "postgres://signet:pw@db.internal/signet" {
		t.Errorf("%s does not override storage.dsn: %v %q", EnvDatabaseURL, err, cfg.Storage.DatabaseURL())
	}
}

// TestPostgresCLI: config check explains what PostgreSQL needs, and the
// management commands work on the database directly while servers run.
func TestPostgresCLI(t *testing.T) {
	dsn := pgtest.DSN(t)
	t.Setenv(EnvDatabaseURL, "")
	os.Unsetenv(EnvDatabaseURL)
	for _, env := range []string{EnvKeyEncryptionKey, EnvCookieKey} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	config := writeConfig(t, "issuer: http://127.0.0.1:5556\nstorage:\n  type: postgres\n  dsn: "+dsn+"\n")
	r := runCLI(t, "", "config", "check", "--config", config)
	if r.code == 0 || !strings.Contains(r.stdout, EnvKeyEncryptionKey+" or "+EnvKeyEncryptionKey+fileEnvSuffix) ||
		!strings.Contains(r.stdout, "never generates") || !strings.Contains(r.stdout, "holds no Signet schema yet") {
		t.Errorf("config check without keys = %d %q %q", r.code, r.stdout, r.stderr)
	}

	reps := startReplicasOn(t, dsn, 2, setSharedSecrets(t)) // sets the keys and migrates the schema
	r = runCLI(t, "", "config", "check", "--config", config)
	if r.code != 0 || !strings.Contains(r.stdout, "schema version") {
		t.Errorf("config check with keys = %d %q %q", r.code, r.stdout, r.stderr)
	}

	// While the servers run, the CLI changes the database directly, and every
	// replica reads the change.
	r = runCLI(t, "another fine password\n", "--config", config, "user", "add", "bob", "--email", "bob@example.com", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("user add with postgres = %d %q %q", r.code, r.stdout, r.stderr)
	}
	for i, s := range reps.servers {
		if _, err := s.store.GetUserByUsername(t.Context(), "bob"); err != nil {
			t.Errorf("replica %d does not see the person the CLI added: %v", i, err)
		}
	}
	r = runCLI(t, "", "--config", config, "user", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "alice") || !strings.Contains(r.stdout, "bob") {
		t.Errorf("user list with postgres = %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestPostgresKeyChangeReachesReplicas: a rotation on one replica reaches the
// other's JWKS (and ETag) at its next key sync, which serve runs every
// keySyncInterval.
func TestPostgresKeyChangeReachesReplicas(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, 2)
	jwks := func(replica int32) (map[string]bool, string) {
		t.Helper()
		r.next.Store(replica)
		resp, err := http.Get(r.URL + "/keys")
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
	before, etag := jwks(1)
	if err := r.servers[0].keys.RotateNow(r.Ctx, ""); err != nil {
		t.Fatal(err)
	}
	after0, _ := jwks(0)
	if maps.Equal(after0, before) {
		t.Fatal("the rotating replica's JWKS did not change")
	}
	if changed, err := r.servers[1].keys.Sync(r.Ctx); err != nil || !changed {
		t.Fatalf("sync on the other replica: %v %v", changed, err)
	}
	after1, etag1 := jwks(1)
	if !maps.Equal(after1, after0) || etag1 == etag {
		t.Fatalf("the other replica serves %v (ETag %s -> %s), want %v", after1, etag, etag1, after0)
	}
}

// TestPostgresLogoutNoticeDeliveredOnce: two replicas' delivery loops find the
// same due back-channel notice at once; exactly one sends it.
func TestPostgresLogoutNoticeDeliveredOnce(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, 2)
	// The receiver holds its first notice a while, so that every delivery
	// loop has listed the notice as due before the first one is done.
	var got atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if got.Add(1) == 1 {
			time.Sleep(300 * time.Millisecond)
		}
	}))
	t.Cleanup(rcv.Close)
	app := r.addClient(admin.AddClientInput{ID: "app", BackchannelLogoutURI: rcv.URL + "/bcl"})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	if _, err := app.Exchange(code, ap); err != nil {
		t.Fatal(err)
	}
	if _, err := r.servers[0].admin.LogoutUser(r.Ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, s := range r.servers {
		for range 3 {
			wg.Go(func() {
				if _, err := s.provider.DeliverDueLogouts(r.Ctx); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	if n := got.Load(); n != 1 {
		t.Fatalf("%d back-channel notices delivered, want exactly 1", n)
	}
}

// TestPostgresLockoutHoldsAcrossReplicas: wrong passwords counted on one
// replica lock the account on the other too, and an unlock clears it for both.
func TestPostgresLockoutHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	r := startReplicas(t, 2)
	app := r.addClient(admin.AddClientInput{ID: "app"})
	try := func(replica int32, pw string) signettest.Page {
		t.Helper()
		r.next.Store(replica)
		b := signettest.NewBrowser(t)
		u, _ := app.AuthURL()
		return b.Login(b.Get(u), "alice", pw)
	}
	for i := range r.srv.cfg.Throttle.AccountFailures {
		if p := try(0, "a wrong password"); p.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d on replica 0: %d", i+1, p.Status)
		}
	}
	// The failures are in the store before each answer: the lock is there.
	for deadline := time.Now().Add(10 * time.Second); ; {
		until, err := throttle.LockedUntil(r.Ctx, r.srv.store, throttle.AccountStoreKey("alice"), r.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !until.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lock stored after %d wrong passwords", r.srv.cfg.Throttle.AccountFailures)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p := try(1, alicePassword); p.URL.Host == "127.0.0.1:9" || p.Status != http.StatusUnauthorized {
		t.Fatalf("the right password on replica 1 while replica 0 locked the account: %d %s", p.Status, p.URL)
	}
	if _, err := r.servers[1].admin.UnlockUser(r.Ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if p := try(1, alicePassword); p.URL.Host != "127.0.0.1:9" {
		t.Fatalf("the right password after unlock: %d %s", p.Status, p.URL)
	}
}

// TestPostgresOutageDuringTokenTraffic: PostgreSQL stops in the middle of token
// traffic. Meanwhile the token endpoint answers 503 temporarily_unavailable
// (never a 500, never invalid_grant for a good token) and /readyz says not
// ready; once it is back, every replica reconnects by itself and the refresh
// token the client holds still works: nothing it received was lost.
func TestPostgresOutageDuringTokenTraffic(t *testing.T) {
	r := startReplicas(t, 2)
	app := r.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	tokenPath := mustParseURL(t, app.OAuth.Endpoint.TokenURL).Path
	refresh := func(replica int32, rt string) (int, map[string]any) {
		r.next.Store(replica)
		return app.PostForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	}
	status, m := refresh(0, tok.RefreshToken)
	if status != http.StatusOK {
		t.Fatalf("refresh before the outage: %d %v", status, m)
	}
	rt, access := m["refresh_token"].(string), m["access_token"].(string)
	introspectPath := "/oauth/introspect"
	if !app.Introspect(access) {
		t.Fatal("a fresh access token is not active")
	}

	// A browser on the login page when the database goes away.
	b := signettest.NewBrowser(t)
	r.next.Store(0)
	authURL, _ := app.AuthURL()
	loginPage := b.Get(authURL)

	pgtest.StopServer(t)
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			pgtest.StartServer(t)
		}
	})
	// The pages say "try again" (503), never "wrong password" or a 500.
	for replica := range int32(2) {
		r.next.Store(replica)
		if p := b.Login(loginPage, "alice", alicePassword); p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") == "" {
			t.Errorf("sign-in on replica %d while PostgreSQL is down: %d (Retry-After %q), want 503", replica, p.Status, p.Header.Get("Retry-After"))
		}
		if p := b.Get(authURL); p.Status != http.StatusServiceUnavailable {
			t.Errorf("/authorize on replica %d while PostgreSQL is down: %d, want 503", replica, p.Status)
		}
	}
	for replica := range int32(2) {
		status, m := refresh(replica, rt)
		if status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" {
			t.Errorf("refresh on replica %d while PostgreSQL is down: %d %v", replica, status, m)
		}
		// Userinfo and introspection cannot tell: never "invalid token".
		r.next.Store(replica)
		if _, err := app.UserInfo(access); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("userinfo on replica %d while PostgreSQL is down: %v, want a 503", replica, err)
		}
		for _, token := range []string{access, rt} {
			status, m := app.PostForm(introspectPath, url.Values{"token": {token}})
			if status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" {
				t.Errorf("introspection on replica %d while PostgreSQL is down: %d %v", replica, status, m)
			}
			// Never a 200 that the client would take for "revoked".
			status, m = app.PostForm(provider.PathRevoke, url.Values{"token": {token}})
			if status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" {
				t.Errorf("revocation on replica %d while PostgreSQL is down: %d %v", replica, status, m)
			}
		}
		for _, probe := range []string{"/readyz", "/healthz"} {
			if resp, err := http.Get(r.URL + probe); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s on replica %d while PostgreSQL is down: %v %v", probe, replica, resp, err)
			} else {
				resp.Body.Close()
			}
		}
	}

	pgtest.StartServer(t)
	restarted = true
	// The pools reconnect by themselves; until they have, the answer is 503.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, m = refresh(1, rt)
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("refresh after PostgreSQL came back: %d %v", status, m)
		}
	}
	if status, m := refresh(0, m["refresh_token"].(string)); status != http.StatusOK {
		t.Fatalf("refresh on the other replica after the outage: %d %v", status, m)
	}
}
