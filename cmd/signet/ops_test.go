package main

// Operations: unknown commands, commands that must create nothing, version,
// secrets from files, health endpoints, rewrap confirmation (in process), and
// on the real binary: JSON logs joined by request id, metrics after a sign-in
// and a token request, SIGHUP, healthcheck, backup while serving, restore and
// sign in there, compact, a newer schema refused.

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage/boltstore"
)

// checkUsageFailure checks a command line mistake: exit status 2 and one line
// naming want.
func checkUsageFailure(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 2 {
		t.Errorf("exit %d, want 2 (stdout %q, stderr %q)", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "signet: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting with \"signet: \"", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q, want it to mention %q", r.stderr, want)
	}
}

func TestUnknownCommandsExit2(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"usr", "list"}, `unknown command "usr" for "signet"; did you mean "user"?`},
		{[]string{"user", "disabel", "kim"}, `unknown command "disabel" for "signet user"; did you mean "disable"?`},
		{[]string{"keys", "rotat"}, `did you mean "rotate"?`},
		{[]string{"client", "xyzzy"}, `unknown command "xyzzy" for "signet client"`},
		{[]string{"config", "chek"}, `did you mean "check"?`},
		{[]string{"version", "extra"}, `unknown command "extra"`},
		{[]string{"user", "list", "--nope"}, "unknown flag: --nope"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			checkUsageFailure(t, runCLI(t, "", tc.args...), tc.want)
		})
	}
	// A group alone still shows its help.
	if r := runCLI(t, "", "user"); r.code != 0 || !strings.Contains(r.stdout, "Usage:") {
		t.Errorf("signet user: %d %q", r.code, r.stdout)
	}
}

func TestManagementCreatesNothing(t *testing.T) {
	base := t.TempDir()
	missing := filepath.Join(base, "typo-data")
	empty := filepath.Join(base, "empty")
	if err := os.Mkdir(empty, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{missing, empty} {
		cfg := filepath.Join(base, filepath.Base(dir)+".yaml")
		if err := os.WriteFile(cfg, []byte("data_dir: "+dir+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"user", "list"},
			{"client", "list"},
			{"keys", "list"},
			{"user", "add", "kim", "--email", "k@example.com", "--password-stdin"},
			{"backup", filepath.Join(base, "b.tar.gz")},
			{"compact"},
		} {
			r := runCLI(t, "pw long enough here\n", append([]string{"--config", cfg}, args...)...)
			checkFailure(t, r, "no Signet data in "+dir, args)
			if !strings.Contains(r.stderr, "serve") || !strings.Contains(r.stderr, "--config") {
				t.Errorf("%v: %q does not point at serve and --config", args, r.stderr)
			}
		}
		if _, err := os.Stat(missing); err == nil {
			t.Fatalf("a management command created %s", missing)
		}
		if ents, _ := os.ReadDir(empty); len(ents) != 0 {
			t.Fatalf("a management command wrote into the empty data directory: %v", ents)
		}
	}
	// SIGNET_CONFIG stands for --config.
	t.Setenv(EnvConfig, filepath.Join(base, "empty.yaml"))
	checkFailure(t, runCLI(t, "", "user", "list"), "no Signet data in "+empty, []string{"user", "list"})
	// A --config that does not exist is an error, not the defaults.
	checkFailure(t, runCLI(t, "", "--config", filepath.Join(base, "nope.yaml"), "user", "list"), "nope.yaml", nil)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "signet ") || !strings.Contains(r.stdout, runtime.Version()) {
		t.Errorf("version: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r2 := runCLI(t, "", "--version"); r2.code != 0 || r2.stdout != r.stdout {
		t.Errorf("--version: %d %q, want %q", r2.code, r2.stdout, r.stdout)
	}
	var b buildInfo
	if r := runCLI(t, "", "version", "--output", "json"); json.Unmarshal([]byte(r.stdout), &b) != nil || b.Go != runtime.Version() || b.Version == "" {
		t.Errorf("version --output json: %q", r.stdout)
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	kek, cookie := filepath.Join(t.TempDir(), "kek"), filepath.Join(t.TempDir(), "cookie")
	k1 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	k2 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("c", 32)))
	os.WriteFile(kek, []byte(k1+"\n"), 0o400)
	os.WriteFile(cookie, []byte(k2), 0o600)
	t.Setenv(EnvKeyEncryptionKey+fileEnvSuffix, kek)
	t.Setenv(EnvCookieKey+fileEnvSuffix, cookie)
	s, err := LoadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.KeyEncryptionKey[:]) != strings.Repeat("k", 32) || string(s.CookieKey[:]) != strings.Repeat("c", 32) {
		t.Error("secrets not read from the _FILE variables")
	}
	if _, err := os.Stat(filepath.Join(dir, KeyEncryptionKeyFile)); err == nil {
		t.Error("a key file was generated although _FILE gave the key")
	}
	if !kekFromEnvironment() {
		t.Error("kekFromEnvironment is false with SIGNET_KEY_ENCRYPTION_KEY_FILE set")
	}
	os.Chmod(cookie, 0o644)
	if _, err := LoadSecrets(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), k2) {
		t.Errorf("a key file open to others: %v", err)
	}
	os.Chmod(cookie, 0o600)
	os.WriteFile(cookie, []byte("short"), 0o600)
	if _, err := LoadSecrets(dir); err == nil || !strings.Contains(err.Error(), EnvCookieKey+fileEnvSuffix) {
		t.Errorf("a malformed key file: %v", err)
	}
	t.Setenv(EnvCookieKey, k2)
	if _, err := LoadSecrets(dir); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("both the variable and its _FILE: %v", err)
	}
}

func TestObservabilityConfig(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.LogFormat = "yaml"
	cfg.Metrics.Listen = "127.0.0.1:5556"
	err := cfg.Validate()
	for _, want := range []string{`log_format: "yaml" is not text or json`, "metrics.listen: \"127.0.0.1:5556\" is the public listener"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
	cfg = DefaultConfig()
	cfg.Metrics.Listen = "127.0.0.1:99999"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "metrics.listen") {
		t.Errorf("bad metrics port: %v", err)
	}
	cfg.Metrics.Listen = "127.0.0.1:9556"
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestHealthEndpoints(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	ti := startIssuerOpts(t, []serverOption{withLogger(slog.New(slog.NewTextHandler(&logs, nil)))})
	get := func(path string) (int, string) {
		resp, err := http.Get(ti.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", path)
		}
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/livez", "/readyz", "/healthz"} {
		if code, body := get(p); code != 200 || body != "ok\n" {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
	if code, _ := get("/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404", code)
	}
	ti.srv.store.Close()
	// The body names the part only: a storage error can name the database's
	// user, database and host (PostgreSQL), or the file (bbolt).
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || body != "not ready: storage\n" {
		t.Errorf("/readyz with storage closed = %d %q, want 503 %q", code, body, "not ready: storage\n")
	}
	if code, _ := get("/livez"); code != 200 {
		t.Errorf("/livez with storage closed = %d", code)
	}
	// Issue 15: /healthz says not ready while storage is away, as /readyz.
	if code, body := get("/healthz"); code != http.StatusServiceUnavailable || body != "not ready: storage\n" {
		t.Errorf("/healthz with storage closed = %d %q, want 503 %q", code, body, "not ready: storage\n")
	}
	// The operator finds the cause in the log, once per change, not per probe.
	cause := ti.srv.store.Ping(context.Background())
	if n := strings.Count(logs.String(), "event=not_ready"); n != 1 || !strings.Contains(logs.String(), "level=WARN") ||
		cause == nil || !strings.Contains(logs.String(), cause.Error()) {
		t.Errorf("the log has %d not-ready records, want 1 at warn naming the cause:\n%s", n, logs.String())
	}
}

func TestKeysRewrapAsks(t *testing.T) {
	ti := startIssuer(t)
	cli := serveAdminSocket(t, ti)
	path := filepath.Join(ti.srv.cfg.DataDir, KeyEncryptionKeyFile)
	before, _ := os.ReadFile(path)
	code, out, errs := cli("keys", "rewrap")
	if code != 1 || !strings.Contains(out, "New key-encryption key: sha256:") || !strings.Contains(errs, "cancelled") {
		t.Fatalf("keys rewrap without an answer: %d %q %q", code, out, errs)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a cancelled rewrap changed the key-encryption key")
	}
	code, out, errs = cli("keys", "rewrap", "--yes")
	if code != 0 {
		t.Fatalf("keys rewrap --yes: %d %q %q", code, out, errs)
	}
	k, err := readKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, kekFingerprint(k[:])) {
		t.Errorf("rewrap printed %q, not the fingerprint %s of the key now in data_dir", out, kekFingerprint(k[:]))
	}
	// With the key-encryption key kept outside data_dir, a key the CLI made
	// up is refused: it would be stored nowhere.
	t.Setenv(EnvKeyEncryptionKey, base64.StdEncoding.EncodeToString(k[:]))
	if code, _, errs := cli("keys", "rewrap", "--yes"); code != 1 || !strings.Contains(errs, EnvNewKeyEncryptionKey) {
		t.Errorf("generated key with the KEK from the environment: %d %q", code, errs)
	}
}

// scrape reads the metrics listener and returns every sample as
// "name{label=value,...}" -> value (labels in exposition order).
func scrape(t *testing.T, url string, save string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if save != "" {
		os.WriteFile(save, body, 0o644)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	out := map[string]float64{}
	for name, mf := range families {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(ls, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeOpsConfig rewrites env's configuration with JSON logs at info and a
// metrics listener, and returns the metrics URL.
func writeOpsConfig(t *testing.T, env *signetEnv) string {
	t.Helper()
	metricsAddr := freeAddr(t)
	body := fmt.Sprintf("issuer: %s\nlisten: %s\ndata_dir: %s\nlog_level: info\nlog_format: json\nmetrics:\n  listen: %s\n"+
		"passwords:\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  argon2_parallelism: 1\n", env.issuer, env.addr, env.dataDir, metricsAddr)
	if err := os.WriteFile(env.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return "http://" + metricsAddr + "/metrics"
}

// runBin runs the binary with args and returns its exit code, stdout and stderr.
func runBin(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runBinInput(t, bin, env, "", args...)
}

// runBinInput is runBin with standard input.
func runBinInput(t *testing.T, bin string, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// TestOperationsBinary drives the real binary through a day of operations.
// SIGNET_METRICS_SCRAPE=FILE saves a scrape there (CI runs promtool on it).
func TestOperationsBinary(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs unix sockets and signals")
	}
	bin := signettest.Binary(t)
	env := newSignetEnv(t, bin)
	metricsURL := writeOpsConfig(t, env)
	proc := env.serve()
	env.cli("correct horse battery\n", "user", "add", "alice", "--email", "alice@example.com", "--name", "Alice", "--password-stdin")
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	out := env.cli("", "client", "add", "--id", "app", "--name", "App", "--first-party",
		"--redirect-uri", "http://127.0.0.1:9/cb", "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ClientSecret == "" {
		t.Fatalf("client add: %v %q", err, out)
	}
	newClient := func(e *signetEnv) *crashClient {
		return &crashClient{t: t, env: e, secret: created.ClientSecret, redirect: "http://127.0.0.1:9/cb",
			verifier: oauth2.GenerateVerifier(), browser: signettest.NewBrowser(t), http: &http.Client{Timeout: 10 * time.Second}}
	}

	// Metrics move by exactly what one failed sign-in, one sign-in and one
	// token request did.
	before := scrape(t, metricsURL, "")
	rc := newClient(env)
	q := "client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&response_type=code&scope=openid&state=s1&nonce=n1&code_challenge=" +
		signettest.PKCEChallenge(rc.verifier) + "&code_challenge_method=S256"
	p := rc.browser.Get(env.issuer + "/authorize?" + q)
	if p = rc.browser.Login(p, "alice", "wrong password!"); p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.Status)
	}
	code := rc.code()
	if st, tr, err := rc.exchange(code); err != nil || st != 200 || tr.IDToken == "" {
		t.Fatalf("exchange: %d %v %+v", st, err, tr)
	}
	after := scrape(t, metricsURL, os.Getenv("SIGNET_METRICS_SCRAPE"))
	for key, delta := range map[string]float64{
		`signet_logins_total{outcome=ok}`:                                                1,
		`signet_logins_total{outcome=wrong_password}`:                                    1,
		`signet_logins_total{outcome=locked}`:                                            0,
		`signet_tokens_issued_total{alg=RS256,client=app,grant_type=authorization_code}`: 1,
		`signet_http_requests_total{code=200,handler=/oauth/token,method=POST}`:          1,
		`signet_http_requests_total{code=303,handler=/login,method=POST}`:                1,
		`signet_http_requests_total{code=401,handler=/login,method=POST}`:                1,
		`signet_http_request_duration_seconds{handler=/oauth/token}`:                     1,
		`signet_audit_events_total{event=token_issued}`:                                  1,
		`signet_refresh_token_reuse_total{}`:                                             0,
	} {
		if got := after[key] - before[key]; got != delta {
			t.Errorf("%s moved by %v, want %v (before %v, after %v)", key, got, delta, before[key], after[key])
		}
	}
	for _, key := range []string{`signet_signing_key_age_seconds{alg=RS256}`, `signet_signing_key_next_rotation_seconds{alg=ES256}`,
		`signet_storage_size_bytes{}`, `signet_backchannel_logout_queue{}`, `signet_storage_write_duration_seconds{}`, `signet_ready{}`} {
		if _, ok := after[key]; !ok {
			t.Errorf("no %s in the scrape", key)
		}
	}
	if after[`signet_ready{}`] != 1 || after[`signet_signing_key_next_rotation_seconds{alg=RS256}`] <= 0 {
		t.Errorf("ready %v, next rotation in %vs", after[`signet_ready{}`], after[`signet_signing_key_next_rotation_seconds{alg=RS256}`])
	}

	// healthcheck asks /readyz of the configured server.
	if code, out, errs := runBin(t, bin, environ(), "--config", env.config, "healthcheck"); code != 0 || out != "ready\n" {
		t.Errorf("healthcheck: %d %q %q", code, out, errs)
	}
	// SIGHUP reloads, and the process stays.
	os.WriteFile(env.config, []byte(strings.Replace(mustRead(t, env.config), "log_level: info", "log_level: debug", 1)+"theme_dir: /nonexistent\n"), 0o600)
	proc.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, func() bool { return strings.Contains(proc.out.String(), `"event":"reload"`) }, proc)
	if !strings.Contains(proc.out.String(), `"applied":"log_level"`) || !strings.Contains(proc.out.String(), `"restart_needed_for":"theme_dir"`) {
		t.Errorf("reload line does not say what it applied and what needs a restart:\n%s", proc.out)
	}

	// Backup while serving, through the admin socket.
	backup := filepath.Join(t.TempDir(), "signet-backup.tar.gz")
	if out := env.cli("", "backup", backup); !strings.Contains(out, "from the running server") {
		t.Errorf("backup: %q", out)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if code, _, errs := runBin(t, bin, environ(), "--config", env.config, "backup", backup); code != 1 || !strings.Contains(errs, "exists") {
		t.Errorf("backup over an existing file: %d %q", code, errs)
	}
	// compact refuses while the server runs.
	if code, _, errs := runBin(t, bin, environ(), "--config", env.config, "compact"); code != 1 || !strings.Contains(errs, "stop it") {
		t.Errorf("compact while serving: %d %q", code, errs)
	}

	// The JSON log: every line parses, and the request id joins the access
	// line of the token request to its audit line.
	proc.cmd.Process.Signal(syscall.SIGTERM)
	if c := proc.wait(t, 20*time.Second); c != 0 {
		t.Fatalf("serve exited %d", c)
	}
	tokenAccess, tokenAudit := "", ""
	sc := bufio.NewScanner(strings.NewReader(proc.out.String()))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue // the banner on standard output
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for _, secret := range []string{"correct horse battery", created.ClientSecret, code} {
			if strings.Contains(line, secret) {
				t.Fatalf("a secret in the log: %q", line)
			}
		}
		id, _ := rec["request_id"].(string)
		switch {
		case rec["msg"] == "http request" && rec["path"] == "/oauth/token":
			tokenAccess = id
		case rec["event"] == "token_issued":
			tokenAudit = id
			if rec["subject"] == "" || rec["jti"] == "" || rec["client"] != "app" || rec["grant_type"] != "authorization_code" {
				t.Errorf("token_issued line: %v", rec)
			}
		case rec["event"] == "login_failed":
			if rec["username"] != "alice" || rec["reason"] != "wrong_password" {
				t.Errorf("login_failed line: %v", rec)
			}
		}
	}
	if tokenAccess == "" || tokenAccess != tokenAudit {
		t.Errorf("request id of the token request's access line %q, of its audit line %q", tokenAccess, tokenAudit)
	}

	// Offline: compact, then restore into a new data directory (refused into
	// one that holds data) and sign in there.
	if out := env.cli("", "compact"); !strings.Contains(out, "Compacted") {
		t.Errorf("compact: %q", out)
	}
	if code, _, errs := runBin(t, bin, environ(), "--config", env.config, "restore", backup); code != 1 || !strings.Contains(errs, "already holds Signet data") {
		t.Errorf("restore over data: %d %q", code, errs)
	}
	env2 := newSignetEnv(t, bin)
	os.Remove(env2.dataDir) // absent counts as empty
	if out := env2.cli("", "restore", backup); !strings.Contains(out, "Restored") {
		t.Errorf("restore: %q", out)
	}
	env2.serve()
	rc2 := newClient(env2)
	if st, tr, err := rc2.exchange(rc2.code()); err != nil || st != 200 || tr.IDToken == "" {
		t.Fatalf("sign-in on the restored data: %d %v %+v", st, err, tr)
	}

	// A database from a newer Signet is refused with a clear message.
	if err := boltstore.SetSchemaVersionForTest(filepath.Join(env.dataDir, dbFileName), boltstore.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runBin(t, bin, environ(), "--config", env.config, "serve"); code != 1 || !strings.Contains(errs, "newer than this Signet") {
		t.Errorf("serve of a newer schema: %d %q", code, errs)
	}
	if code, _, errs := runBin(t, bin, environ(), "--config", env.config, "user", "list"); code != 1 || !strings.Contains(errs, "newer than this Signet") {
		t.Errorf("user list on a newer schema: %d %q", code, errs)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond (it watches another process's output, which offers
// nothing to wait on) until it holds, for at most ten seconds.
func waitFor(t *testing.T, cond func() bool, p *signetProc) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("condition not met; output:\n%s", p.out)
}

func TestConfigCheckDeployment(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.ok("", "config", "check"); out != "ok\n" {
		t.Errorf("config check of a served data directory = %q", out)
	}
	check := func(want string) {
		t.Helper()
		r := e.run("", "config", "check")
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("config check = %d %q %q, want a problem naming %q", r.code, r.stdout, r.stderr, want)
		}
	}
	os.Chmod(e.dataDir, 0o755)
	check("chmod 700")
	os.Chmod(e.dataDir, 0o700)
	kek := filepath.Join(e.dataDir, KeyEncryptionKeyFile)
	good := mustRead(t, kek)
	os.WriteFile(kek, []byte("not a key"), 0o600)
	check("key-encryption key: " + kek)
	os.Remove(kek)
	check("is missing but signet.db exists")
	os.WriteFile(kek, []byte(good), 0o600)
	t.Setenv(EnvCookieKey, "short")
	check("cookie key: SIGNET_COOKIE_KEY: not base64")
	os.Unsetenv(EnvCookieKey)

	// A relative data_dir is a note in a shell, a problem under systemd.
	rel := filepath.Join(t.TempDir(), "rel.yaml")
	os.WriteFile(rel, []byte("data_dir: ./relative-data\n"), 0o600)
	r := runCLI(t, "", "--config", rel, "config", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "note: data_dir ./relative-data is relative") {
		t.Errorf("relative data_dir in a shell: %d %q", r.code, r.stdout)
	}
	t.Setenv("INVOCATION_ID", "0123")
	r = runCLI(t, "", "--config", rel, "config", "check")
	if r.code != 1 || !strings.Contains(r.stdout, "which systemd chooses") {
		t.Errorf("relative data_dir under systemd: %d %q", r.code, r.stdout)
	}
	if _, err := os.Stat("relative-data"); err == nil {
		t.Error("config check created the data directory")
	}
}
