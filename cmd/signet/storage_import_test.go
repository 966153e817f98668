package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/postgres/pgtest"
)

// TestStorageImport moves a running embedded deployment to PostgreSQL: what a
// relying party and a browser hold keeps working on the server that reads the
// copy (the session, the refresh token, ID tokens under the same keys), what
// was revoked stays revoked, a pending back-channel notice is still sent; the
// import checks the keys it is given and never fills a database twice.
func TestStorageImport(t *testing.T) {
	for _, env := range []string{EnvKeyEncryptionKey, EnvCookieKey} {
		t.Setenv(env, "")
		os.Unsetenv(env)
		t.Setenv(env+fileEnvSuffix, "")
		os.Unsetenv(env + fileEnvSuffix)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// One front for the embedded server now and the moved one later.
	var current atomic.Pointer[server]
	var embedded *server
	iss := signettest.Start(t, ln, cfg.Issuer, func(ctx context.Context, now func() time.Time) (http.Handler, error) {
		var err error
		if embedded, err = newServer(ctx, cfg, now); err != nil {
			return nil, err
		}
		current.Store(embedded)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			current.Load().handler.ServeHTTP(w, r)
		}), nil
	})
	ti := &testIssuer{Issuer: iss, srv: embedded}
	ctx, clk := ti.Ctx, ti.Clock
	if _, err := embedded.admin.AddUser(ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.admin.AddGroup(ctx, admin.AddGroupInput{Name: "staff"}); err != nil {
		t.Fatal(err)
	}
	if _, err := embedded.admin.AddUserGroups(ctx, admin.UserGroupsInput{Username: "alice", Groups: []string{"staff"}}); err != nil {
		t.Fatal(err)
	}
	var notices atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { notices.Add(1) }))
	t.Cleanup(rcv.Close)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	bcl := ti.addClient(admin.AddClientInput{ID: "bcl", BackchannelLogoutURI: rcv.URL + "/bcl"})

	// What the embedded deployment has handed out.
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := app.Exchange(app.SignIn(b))
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := app.PostForm(provider.PathRevoke, url.Values{"token": {revoked.AccessToken}}); st != http.StatusOK {
		t.Fatalf("revoke: %d", st)
	}
	// Bob signs in to bcl; signing him out queues a back-channel notice that
	// nothing delivers before the move.
	if _, err := embedded.admin.AddUser(ctx, admin.AddUserInput{Username: "bob", Email: "bob@example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	other := signettest.NewBrowser(t)
	u, bap := bcl.AuthURL()
	if _, err := bcl.Exchange(bcl.CodeFrom(other.Login(other.Get(u), "bob", alicePassword), bap), bap); err != nil {
		t.Fatal(err)
	}
	if n, err := embedded.admin.LogoutUser(ctx, "bob"); err != nil || n != 1 {
		t.Fatalf("logout bob: %d %v", n, err)
	}
	// Carol has a second factor, sealed under a key derived from the cookie
	// key; a client assertion (private_key_jwt) was used just before the move.
	if _, err := embedded.admin.AddUser(ctx, admin.AddUserInput{Username: "carol", Email: "carol@example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	third := signettest.NewBrowser(t)
	enrolOn(third, ti, accountSignIn(third, ti, "carol", alicePassword))
	if err := embedded.store.UseAssertionJTI(ctx, "app", "assertion-1", time.Now().Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}

	dbPath := filepath.Join(cfg.DataDir, dbFileName)
	pgCfg := *cfg
	pgCfg.Storage = StorageConfig{Type: StoragePostgres, DSN: pgtest.DSN(t)}
	var out bytes.Buffer
	kekFile, cookieFile := filepath.Join(cfg.DataDir, KeyEncryptionKeyFile), filepath.Join(cfg.DataDir, CookieKeyFile)
	// useKey gives the key named env as a value or as a file (exactly one).
	useKey := func(env, value, file string) {
		os.Unsetenv(env)
		os.Unsetenv(env + fileEnvSuffix)
		if file != "" {
			os.Setenv(env+fileEnvSuffix, file)
		} else {
			os.Setenv(env, value)
		}
	}
	useKey(EnvKeyEncryptionKey, "", kekFile)
	useKey(EnvCookieKey, "", cookieFile)
	// While the server runs, the import is refused: a read-only open still
	// meets the server's lock.
	if err := storageImport(ctx, &pgCfg, dbPath, &out); err == nil || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("import while the server runs: %v, want 'stop it first'", err)
	}
	if err := embedded.store.Close(); err != nil { // the server stops
		t.Fatal(err)
	}

	// Keys other than the embedded deployment's are refused before anything
	// is copied: by the key files next to the database...
	k := make([]byte, 32)
	rand.Read(k)
	otherKey := base64.StdEncoding.EncodeToString(k)
	useKey(EnvKeyEncryptionKey, otherKey, "")
	if err := storageImport(ctx, &pgCfg, dbPath, &out); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("import with another key-encryption key: %v", err)
	}
	// ...and, for a deployment that took its keys from the environment (no
	// files next to the database), by the data itself: the signing keys must
	// open with the key-encryption key, every enrolled second factor with the
	// cookie key.
	bare := filepath.Join(t.TempDir(), dbFileName)
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bare, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := storageImport(ctx, &pgCfg, bare, &out); err == nil || !strings.Contains(err.Error(), "signing keys") ||
		!strings.Contains(err.Error(), EnvKeyEncryptionKey) {
		t.Fatalf("import with another key-encryption key and no key file: %v, want a refusal naming %s", err, EnvKeyEncryptionKey)
	}
	useKey(EnvKeyEncryptionKey, "", kekFile)
	useKey(EnvCookieKey, otherKey, "")
	if err := storageImport(ctx, &pgCfg, bare, &out); err == nil || !strings.Contains(err.Error(), "carol") ||
		!strings.Contains(err.Error(), EnvCookieKey) {
		t.Fatalf("import with another cookie key and no key file: %v, want a refusal naming carol and %s", err, EnvCookieKey)
	}
	// Nothing was copied by the refusals: the import below finds the
	// database empty. The file itself is only read.
	useKey(EnvCookieKey, "", cookieFile)
	if err := storageImport(ctx, &pgCfg, dbPath, &out); err != nil {
		t.Fatalf("import: %v", err)
	}
	if after, _ := os.ReadFile(dbPath); !bytes.Equal(after, data) {
		t.Error("the import changed the embedded deployment's signet.db")
	}
	t.Logf("storage import:\n%s", out.String())
	for _, want := range []string{"people:", "refresh families:", "revoked JWT ids:", "pending logout notices:", "signing keys:",
		"used client assertion ids:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	for _, none := range []string{"pending logout notices:", "revoked JWT ids:", "used client assertion ids:"} {
		if regexp.MustCompile(regexp.QuoteMeta(none) + ` +0\n`).MatchString(out.String()) {
			t.Errorf("the report shows no %s copied where one was:\n%s", strings.TrimSuffix(none, ":"), out.String())
		}
	}
	if err := storageImport(ctx, &pgCfg, dbPath, &out); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("a second import into the same database: %v", err)
	}

	// The server on PostgreSQL takes over the same issuer.
	moved, err := newServer(ctx, &pgCfg, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { moved.store.Close() })
	current.Store(moved)
	ti.srv = moved

	if p := b.Get(mustAuthURL(app)); p.URL.Host != "127.0.0.1:9" {
		t.Fatalf("the browser's session did not survive the move: %d %s", p.Status, p.URL)
	}
	next, err := app.Refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("a refresh token from before the move: %v", err)
	}
	app.VerifyID(next, "")
	if app.Introspect(revoked.AccessToken) {
		t.Error("an access token revoked before the move is active after it")
	}
	if n, err := moved.provider.DeliverDueLogouts(ctx); err != nil || n != 1 || notices.Load() != 1 {
		t.Errorf("the pending notice after the move: delivered %d (%v), received %d", n, err, notices.Load())
	}
	if err := moved.store.UseAssertionJTI(ctx, "app", "assertion-1", time.Now().Add(5*time.Minute)); !errors.Is(err, storage.ErrReused) {
		t.Errorf("a client assertion used before the move, used again after it: %v, want ErrReused", err)
	}
	info, err := moved.admin.ShowUser(ctx, "alice")
	if err != nil || len(info.Groups) != 1 || info.Groups[0] != "staff" {
		t.Errorf("alice after the move: %+v %v", info, err)
	}
}

func mustAuthURL(r *signettest.RP) string {
	u, _ := r.AuthURL()
	return u
}
