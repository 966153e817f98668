package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// cliEnv is a data directory and a configuration file pointing at it, with argon2
// at the validated minimum so that tests stay fast.
type cliEnv struct {
	t       *testing.T
	dataDir string
	config  string
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	dataDir := t.TempDir()
	if err := os.Chmod(dataDir, 0o700); err != nil { // signet refuses a data dir others can read
		t.Fatal(err)
	}
	// The data a first `signet serve` leaves: management commands never
	// create a database.
	store, err := boltstore.Open(filepath.Join(dataDir, dbFileName), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	if _, err := LoadSecrets(dataDir); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "signet.yaml")
	body := "data_dir: " + dataDir + "\n" +
		"passwords:\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  argon2_parallelism: 1\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cliEnv{t: t, dataDir: dataDir, config: cfg}
}

// result is what one run of the CLI printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process with --config prepended to args.
func (e *cliEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	return runCLI(e.t, stdin, append([]string{"--config", e.config}, args...)...)
}

// ok runs the CLI and fails the test unless it succeeded.
func (e *cliEnv) ok(stdin string, args ...string) string {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("signet %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails runs the CLI and checks that it failed with one line naming want.
func (e *cliEnv) fails(want, stdin string, args ...string) {
	e.t.Helper()
	r := e.run(stdin, args...)
	checkFailure(e.t, r, want, args)
}

func checkFailure(t *testing.T, r result, want string, args []string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("signet %s: exit %d, want 1 (stdout %q)", strings.Join(args, " "), r.code, r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "signet: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("signet %s: stderr %q, want one line starting with \"signet: \"", strings.Join(args, " "), r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("signet %s: stderr %q, want it to mention %q", strings.Join(args, " "), r.stderr, want)
	}
}

func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return v
}

// exerciseUsers runs the user commands; the same for both paths.
func exerciseUsers(t *testing.T, e *cliEnv) {
	const pw = "correct horse battery"
	out := e.ok(pw+"\n", "user", "add", "alice", "--email", "alice@example.com", "--name", "Alice Liddell", "--password-stdin")
	if !strings.Contains(out, "alice") {
		t.Errorf("user add printed %q", out)
	}
	// --config after the subcommand works too; CRLF line endings are stripped.
	r := runCLI(t, "hunter2hunter2\r\nignored second line\n", "user", "add", "bob", "--email", "bob@example.com", "--password-stdin", "--config", e.config, "--output", "json")
	if r.code != 0 {
		t.Fatalf("user add bob: %q", r.stderr)
	}
	bob := decodeJSON[admin.UserInfo](t, r.stdout)
	if bob.Username != "bob" || len(bob.ID) != 32 || bob.Disabled {
		t.Errorf("user add --output json = %+v", bob)
	}

	out = e.ok("", "user", "list")
	for _, want := range []string{"USERNAME", "alice", "alice@example.com", "Alice Liddell", "bob", "active"} {
		if !strings.Contains(out, want) {
			t.Errorf("user list: %q lacks %q", out, want)
		}
	}
	users := decodeJSON[[]admin.UserInfo](t, e.ok("", "user", "list", "--output", "json"))
	if len(users) != 2 || users[0].Username != "alice" || users[0].Name != "Alice Liddell" || users[1].ID != bob.ID {
		t.Errorf("user list --output json = %+v", users)
	}
	out = e.ok("", "user", "show", "alice")
	if !strings.Contains(out, "alice@example.com") || !strings.Contains(out, users[0].ID) {
		t.Errorf("user show: %q", out)
	}
	alice := decodeJSON[admin.UserInfo](t, e.ok("", "user", "show", "alice", "-o", "json"))
	if alice.ID != users[0].ID || alice.Email != "alice@example.com" {
		t.Errorf("user show --output json = %+v", alice)
	}

	e.fails(`user "alice" already exists`, pw+"\n", "user", "add", "alice", "--email", "a@example.com", "--password-stdin")
	e.fails("--password-stdin is required", "", "user", "add", "carol", "--email", "c@example.com")
	e.fails("no password on standard input", "", "user", "add", "carol", "--email", "c@example.com", "--password-stdin")
	e.fails("password must be", "short\n", "user", "add", "carol", "--email", "c@example.com", "--password-stdin")
	e.fails("username must be", pw+"\n", "user", "add", "carol smith", "--email", "c@example.com", "--password-stdin")
	e.fails(`required flag(s) "email"`, pw+"\n", "user", "add", "carol", "--password-stdin")
	e.fails(`user "nobody" not found`, "", "user", "show", "nobody")
	e.fails(`want text or json`, "", "user", "list", "--output", "yaml")
	checkUsageFailure(t, e.run("", "user", "add", "carol", "--email", "c@example.com", "--password", pw), "unknown flag: --password")

	out = e.ok("new password here\n", "user", "set-password", "alice", "--password-stdin")
	if strings.Contains(out, "new password here") {
		t.Errorf("set-password echoed the password: %q", out)
	}
	e.fails("--password-stdin is required", "x\n", "user", "set-password", "alice")
	e.fails(`user "nobody" not found`, "long enough pw\n", "user", "set-password", "nobody", "--password-stdin")
	e.ok("", "user", "disable", "bob")
	if u := decodeJSON[admin.UserInfo](t, e.ok("", "user", "show", "bob", "--output", "json")); !u.Disabled {
		t.Error("bob not disabled")
	}
	if out := e.ok("", "user", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("user list after disable: %q", out)
	}
}

// exerciseClients runs the client and keys commands; the same for both paths.
func exerciseClients(t *testing.T, e *cliEnv) {
	r := e.run("", "client", "add", "--id", "web", "--name", "Web app",
		"--redirect-uri", "https://app.example.com/cb", "--redirect-uri", "http://127.0.0.1:8080/cb,x", "--output", "json")
	if r.code != 0 {
		t.Fatalf("client add: %q", r.stderr)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	secret, _ := raw["client_secret"].(string)
	if raw["client_id"] != "web" || len(secret) != 43 {
		t.Errorf("client add --output json = %s, want client_id and a 43-character client_secret", r.stdout)
	}

	r = e.run("", "client", "add", "--id", "native", "--name", "Native app", "--public", "--first-party",
		"--id-token-alg", "ES256", "--access-token-format", "opaque",
		"--redirect-uri", "com.example.app:/oauth2redirect", "--output", "json")
	if r.code != 0 {
		t.Fatalf("client add --public: %q", r.stderr)
	}
	raw = nil
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatal(err)
	}
	if _, has := raw["client_secret"]; has || raw["client_id"] != "native" {
		t.Errorf("public client add --output json = %s, want client_id and no client_secret", r.stdout)
	}

	out := e.ok("", "client", "add", "--id", "text", "--name", "Text", "--redirect-uri", "https://t.example/cb")
	if !strings.Contains(out, "client_secret: ") || !strings.Contains(out, "will not be shown again") {
		t.Errorf("client add (text): %q", out)
	}

	for _, tc := range []struct {
		want string
		args []string
	}{
		{`client "web" already exists`, []string{"--id", "web", "--name", "W", "--redirect-uri", "https://a.example/cb"}},
		{"fragment", []string{"--id", "f", "--name", "F", "--redirect-uri", "https://a.example/cb#x"}},
		{"loopback", []string{"--id", "h", "--name", "H", "--redirect-uri", "http://a.example/cb"}},
		{"absolute", []string{"--id", "r", "--name", "R", "--redirect-uri", "/cb"}},
		{"user info", []string{"--id", "u", "--name", "U", "--redirect-uri", "https://me@a.example/cb"}},
		{"public", []string{"--id", "p", "--name", "P", "--redirect-uri", "com.example.app:/cb"}},
		{"client id must be", []string{"--id", "a b", "--name", "N", "--redirect-uri", "https://a.example/cb"}},
		{"HS256", []string{"--id", "alg", "--name", "N", "--redirect-uri", "https://a.example/cb", "--id-token-alg", "HS256"}},
		{"paseto", []string{"--id", "fmt", "--name", "N", "--redirect-uri", "https://a.example/cb", "--access-token-format", "paseto"}},
		{`required flag(s) "redirect-uri"`, []string{"--id", "n", "--name", "N"}},
		{`--allowed-scope "bogus" is not a scope`, []string{"--id", "sc", "--name", "N", "--redirect-uri", "https://a.example/cb", "--allowed-scope", "email", "--allowed-scope", "bogus"}},
	} {
		e.fails(tc.want, "", append([]string{"client", "add"}, tc.args...)...)
	}

	out = e.ok("", "client", "list")
	for _, want := range []string{"native", "public,first-party", "web", "confidential", "http://127.0.0.1:8080/cb,x"} {
		if !strings.Contains(out, want) {
			t.Errorf("client list: %q lacks %q", out, want)
		}
	}
	clients := decodeJSON[[]admin.ClientInfo](t, e.ok("", "client", "list", "--output", "json"))
	if len(clients) != 3 || clients[0].ID != "native" || clients[2].ID != "web" {
		t.Errorf("client list --output json = %+v", clients)
	}
	web := decodeJSON[admin.ClientInfo](t, e.ok("", "client", "show", "web", "--output", "json"))
	if len(web.RedirectURIs) != 2 || web.RedirectURIs[1] != "http://127.0.0.1:8080/cb,x" || web.IDTokenAlg != "RS256" || web.Public {
		t.Errorf("client show --output json = %+v", web)
	}
	out = e.ok("", "client", "show", "native")
	if !strings.Contains(out, "com.example.app:/oauth2redirect") || !strings.Contains(out, "ES256") || strings.Contains(out, secret) {
		t.Errorf("client show: %q", out)
	}
	e.ok("", "client", "remove", "text")
	e.fails(`client "text" not found`, "", "client", "show", "text")
	e.fails(`client "text" not found`, "", "client", "remove", "text")

	if out := e.ok("", "keys", "list", "--output", "json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("keys list --output json = %q, want []", out)
	}
}

func TestCLIDirect(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	exerciseUsers(t, e)
	exerciseClients(t, e)
	if out := e.ok("", "keys", "list"); !strings.Contains(out, "No keys") {
		t.Errorf("keys list: %q", out)
	}
	if _, err := os.Stat(filepath.Join(e.dataDir, dbFileName)); err != nil {
		t.Errorf("no database in the data dir: %v", err)
	}
}

// serveAdmin opens the database as a server would (holding its lock) and serves the
// admin API on <data_dir>/admin.sock. stop ends the socket; the store stays open
// (and locked) until the test ends.
func serveAdmin(t *testing.T, e *cliEnv) (store *boltstore.Store, stop func()) {
	t.Helper()
	cfg, err := LoadConfig(e.config)
	if err != nil {
		t.Fatal(err)
	}
	store, err = boltstore.Open(filepath.Join(e.dataDir, dbFileName), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sock := filepath.Join(e.dataDir, socketFileName)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- admin.ListenAndServe(ctx, sock, admin.NewHandler(admin.New(admin.Config{Store: store, Hasher: newHasher(cfg)}), nil))
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	}
	t.Cleanup(stop)
	c, err := admin.WaitDial(sock, done, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return store, stop
}

func TestCLIThroughAdminSocket(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	store, stop := serveAdmin(t, e)

	// The database is locked by the "server": only the socket can work.
	if _, err := boltstore.Open(filepath.Join(e.dataDir, dbFileName), boltstore.Options{Timeout: -1}); !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("database not locked: %v", err)
	}
	exerciseUsers(t, e)
	exerciseClients(t, e)

	// The changes are in the server's store.
	if u, err := store.GetUserByUsername(context.Background(), "alice"); err != nil || u.Name != "Alice Liddell" {
		t.Errorf("server store: alice = %+v, %v", u, err)
	}
	if _, err := store.GetClient(context.Background(), "web"); err != nil {
		t.Errorf("server store: client web: %v", err)
	}
	if err := store.UpdateKeys(context.Background(), func([]*storage.SigningKey) ([]*storage.SigningKey, error) {
		return []*storage.SigningKey{{ID: "kid-1", Alg: "RS256", State: storage.KeyActive, Sealed: []byte("private"), CreatedAt: time.Now()}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	out := e.ok("", "keys", "list")
	if !strings.Contains(out, "kid-1") || !strings.Contains(out, "active") {
		t.Errorf("keys list: %q", out)
	}

	// Socket gone, lock still held: a clear one-line failure.
	stop()
	e.fails("a server holds the database", "", "user", "list")
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	r := runCLI(t, "", "config", "check", "--config", e.config)
	if r.code != 0 || r.stdout != "ok\n" {
		t.Errorf("config check (good) = %d %q %q", r.code, r.stdout, r.stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	body := "data_dir: /tmp/x\nlog_level: loud\npasswords:\n  argon2_memory_kib: 16\nbogus: 1\n"
	if err := os.WriteFile(bad, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "--config", bad, "config", "check")
	if r.code != 1 || !strings.Contains(r.stderr, "3 problems") {
		t.Errorf("config check (bad) = %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.Contains(r.stdout, "log_level") || !strings.Contains(r.stdout, "argon2_memory_kib") || !strings.Contains(r.stdout, "bogus") {
		t.Errorf("config check (bad) printed %q, want the 3 problems one per line", r.stdout)
	}
	// Other commands sum the problems up in one line.
	checkFailure(t, runCLI(t, "", "--config", bad, "user", "list"), "and 2 more problems", []string{"user", "list"})

	// A theme that serve would refuse is a problem of the file.
	theme := t.TempDir()
	if err := os.WriteFile(filepath.Join(theme, "login.html"), []byte(`{{define "login"}}{{.Title}{{end}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	themed := filepath.Join(t.TempDir(), "themed.yaml")
	if err := os.WriteFile(themed, []byte("theme_dir: "+theme+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runCLI(t, "", "--config", themed, "config", "check")
	if r.code == 0 || !strings.Contains(r.stdout, "theme_dir") || !strings.Contains(r.stdout, "login.html") {
		t.Errorf("config check with a broken theme = %d %q %q", r.code, r.stdout, r.stderr)
	}

	checkFailure(t, runCLI(t, "", "config", "check"), "needs --config", []string{"config", "check"})
	checkFailure(t, runCLI(t, "", "config", "check", "--config", filepath.Join(t.TempDir(), "missing.yaml")), "missing.yaml", []string{"config", "check"})
}

func TestCLIUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"},
		{"serve", "--help"},
		{"user", "--help"},
		{"user", "add", "--help"},
		{"user", "list", "--help"},
		{"user", "show", "--help"},
		{"user", "disable", "--help"},
		{"user", "set-password", "--help"},
		{"client", "--help"},
		{"client", "add", "--help"},
		{"client", "list", "--help"},
		{"client", "show", "--help"},
		{"client", "remove", "--help"},
		{"keys", "list", "--help"},
		{"config", "check", "--help"},
	} {
		r := runCLI(t, "", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("signet %s: exit %d, stdout %q", strings.Join(args, " "), r.code, r.stdout)
		}
	}
	if r := runCLI(t, "", "client", "add", "--help"); !strings.Contains(r.stdout, "--output") || !strings.Contains(r.stdout, "--redirect-uri") {
		t.Errorf("client add --help lacks flags: %q", r.stdout)
	}
	checkUsageFailure(t, runCLI(t, "", "frobnicate"), `unknown command "frobnicate"`)
	checkFailure(t, runCLI(t, "", "user", "show"), "accepts 1 arg", []string{"user", "show"})
	checkUsageFailure(t, runCLI(t, "", "serve", "extra"), "unknown command")
}

func TestReadPassword(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, err string
	}{
		{"secret\n", "secret", ""},
		{"secret\r\n", "secret", ""},
		{"secret", "secret", ""},
		{"  spaced out  \nnext", "  spaced out  ", ""},
		{"\nsecret\n", "", "no password"},
		{"", "", "no password"},
		// A line too long is kept too long, not cut to an acceptable length.
		{strings.Repeat("a", 5000) + "\n", strings.Repeat("a", 1026), ""},
	} {
		got, err := readPassword(strings.NewReader(tc.in))
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("readPassword(%.20q) = %.20q, %v; want %.20q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}
