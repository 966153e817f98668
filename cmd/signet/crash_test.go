package main

// Crash safety and graceful shutdown of the real binary: `signet serve` is built,
// started on a loopback port with a temporary data directory, killed with SIGKILL
// in the middle of token traffic, restarted on the same directory, and finally
// stopped with SIGTERM while requests are in flight.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"golang.org/x/oauth2"
)

// syncBuffer collects a process's output from its copying goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// signetEnv is a configuration for the binary: a free loopback port, a private
// data directory and argon2id at the validated minimum.
type signetEnv struct {
	t       *testing.T
	bin     string
	config  string
	dataDir string
	issuer  string
	addr    string
}

func newSignetEnv(t *testing.T, bin string) *signetEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "signet.yaml")
	body := fmt.Sprintf("issuer: http://%s\nlisten: %s\ndata_dir: %s\nlog_level: warn\n"+
		"passwords:\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n  argon2_parallelism: 1\n", addr, addr, dataDir)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &signetEnv{t: t, bin: bin, config: cfg, dataDir: dataDir, issuer: "http://" + addr, addr: addr}
}

// environ is the test's environment without Signet's secrets: the binary keeps
// its keys in the data directory.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIGNET_") {
			env = append(env, kv)
		}
	}
	return env
}

// cli runs a management command and returns its standard output.
func (e *signetEnv) cli(stdin string, args ...string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, append([]string{"--config", e.config}, args...)...)
	cmd.Env = environ()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("signet %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// signetProc is a running `signet serve`.
type signetProc struct {
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// serve starts `signet serve` and waits until it listens and is ready.
func (e *signetEnv) serve() *signetProc {
	e.t.Helper()
	p := &signetProc{out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(e.bin, "--config", e.config, "serve")
	p.cmd.Env = environ()
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	e.t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if e.t.Failed() {
			e.t.Logf("signet serve (pid %d) output:\n%s", p.cmd.Process.Pid, p.out)
		}
	})
	// The port was free when newSignetEnv chose it; waitReady makes sure the
	// server answering there is this one.
	if err := waitReady(p, e.addr, 15*time.Second); err != nil {
		e.t.Fatalf("signet serve: %v\n%s", err, p.out)
	}
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *signetProc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("signet serve did not exit within %v\n%s", timeout, p.out)
	}
	return p.cmd.ProcessState.ExitCode()
}

// crashClient is a relying party speaking to the binary over real HTTP.
type crashClient struct {
	t        *testing.T
	env      *signetEnv
	secret   string
	redirect string
	verifier string
	http     *http.Client
	browser  *signettest.Browser
}

// code runs the browser part of a flow (the first one signs alice in) and
// returns the code.
func (c *crashClient) code() string {
	c.t.Helper()
	q := url.Values{
		"client_id": {"app"}, "redirect_uri": {c.redirect}, "response_type": {"code"},
		"scope": {"openid offline_access"}, "state": {signettest.RandHex()}, "nonce": {signettest.RandHex()},
		"code_challenge": {signettest.PKCEChallenge(c.verifier)}, "code_challenge_method": {"S256"},
	}
	p := c.browser.Get(c.env.issuer + "/authorize?" + q.Encode())
	if strings.Contains(p.Body, `name="password"`) {
		p = c.browser.Login(p, "alice", "correct horse battery")
	}
	code := p.URL.Query().Get("code")
	if p.URL.Host != "127.0.0.1:9" || code == "" {
		c.t.Fatalf("no code: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	return code
}

// post sends a form to an endpoint with app's credentials. A transport error
// (no answer: the process died) is returned as err.
func (c *crashClient) post(path string, form url.Values) (int, tokenResponse, map[string]any, error) {
	req, _ := http.NewRequest(http.MethodPost, c.env.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", c.secret)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, tokenResponse{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, tokenResponse{}, nil, err
	}
	var tr tokenResponse
	var m map[string]any
	json.Unmarshal(body, &tr)
	json.Unmarshal(body, &m)
	return resp.StatusCode, tr, m, nil
}

func (c *crashClient) exchange(code string) (int, tokenResponse, error) {
	st, tr, _, err := c.post("/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.redirect}, "code_verifier": {c.verifier}})
	return st, tr, err
}

func (c *crashClient) refresh(rt string) (int, tokenResponse, error) {
	st, tr, _, err := c.post("/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	return st, tr, err
}

func (c *crashClient) active(at string) bool {
	c.t.Helper()
	st, _, m, err := c.post("/oauth/introspect", url.Values{"token": {at}})
	if err != nil || st != http.StatusOK {
		c.t.Fatalf("introspect: %d %v", st, err)
	}
	return m["active"] == true
}

// Outcomes of a request sent before the crash.
const (
	untried  = iota // never sent
	answered        // the client got tokens
	refused         // the client got an error answer
	lost            // sent, no answer: the process died with it in flight
)

// TestGracefulShutdown sends SIGTERM while code exchanges are in flight (their
// bodies half sent): the listener closes at once, each of them still gets its
// tokens, and the process exits 0 and removes its admin socket.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("needs SIGTERM and /proc/net/tcp")
	}
	env := newSignetEnv(t, signettest.Binary(t))
	proc := env.serve()
	env.cli("correct horse battery\n", "user", "add", "alice", "--email", "alice@example.com", "--password-stdin")
	var created struct {
		ClientSecret string `json:"client_secret"`
	}
	out := env.cli("", "client", "add", "--id", "app", "--name", "App", "--first-party",
		"--redirect-uri", "http://127.0.0.1:9/cb", "--output", "json")
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	rc := &crashClient{
		t: t, env: env, secret: created.ClientSecret, redirect: "http://127.0.0.1:9/cb",
		verifier: oauth2.GenerateVerifier(), browser: signettest.NewBrowser(t), http: &http.Client{Timeout: 10 * time.Second},
	}
	if _, err := os.Stat(filepath.Join(env.dataDir, socketFileName)); err != nil {
		t.Fatalf("admin socket: %v", err)
	}

	// Three exchanges, each sent up to the middle of its body.
	type inflight struct {
		conn net.Conn
		rest string
	}
	var reqs []inflight
	for range 3 {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {rc.code()},
			"redirect_uri": {rc.redirect}, "code_verifier": {rc.verifier}}.Encode()
		conn, err := net.Dial("tcp", env.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cut := len(form) / 2
		head := fmt.Sprintf("POST /oauth/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Authorization: Basic %s\r\nContent-Length: %d\r\n\r\n%s",
			env.addr, basic("app", rc.secret)[len("Basic "):], len(form), form[:cut])
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, inflight{conn, form[cut:]})
	}
	// SIGTERM closes the listener: a connection still in its accept queue
	// would be reset, so wait until the server has taken in what was sent.
	var conns []net.Conn
	for _, r := range reqs {
		conns = append(conns, r.conn)
	}
	waitServerRead(t, conns)
	if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// The listener closes; the requests in flight are not cut off.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", env.addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("still accepting connections 5s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case <-proc.exited:
		t.Fatalf("exited with requests in flight: %v\n%s", proc.err, proc.out)
	default:
	}
	for i, r := range reqs {
		if _, err := io.WriteString(r.conn, r.rest); err != nil {
			t.Fatalf("request %d: finish the body: %v", i, err)
		}
		r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
		if err != nil {
			t.Fatalf("request %d: no answer after SIGTERM: %v", i, err)
		}
		var tr tokenResponse
		json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
			t.Errorf("request %d: %d %+v", i, resp.StatusCode, tr)
		}
	}
	if code := proc.wait(t, 15*time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: %d\n%s", code, proc.out)
	}
	if _, err := os.Stat(filepath.Join(env.dataDir, socketFileName)); !os.IsNotExist(err) {
		t.Errorf("admin socket left behind: %v", err)
	}
}

// waitServerRead waits until the server has read everything sent on each
// connection, as the kernel's table of TCP sockets shows it: the client's end
// has nothing left unacknowledged (it all arrived) and the server's end, the
// socket with the two ports the other way round, has an empty receive queue
// (the server took it in).
func waitServerRead(t *testing.T, conns []net.Conn) {
	t.Helper()
	type ends struct{ local, remote uint16 }
	want := map[ends]bool{}
	sent := map[ends]bool{}
	for _, c := range conns {
		l, r := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
		want[ends{uint16(r.Port), uint16(l.Port)}] = true
		sent[ends{uint16(l.Port), uint16(r.Port)}] = true
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		read, arrived := 0, 0
		var table []byte
		for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			table = append(table, b...)
		}
		// Lines are "sl local_address rem_address st tx_queue:rx_queue ...",
		// addresses as hex "ADDR:PORT".
		for _, line := range strings.Split(string(table), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 {
				continue
			}
			var e ends
			var tx, rx uint64
			_, lerr := fmt.Sscanf(f[1][strings.LastIndexByte(f[1], ':')+1:], "%X", &e.local)
			_, rerr := fmt.Sscanf(f[2][strings.LastIndexByte(f[2], ':')+1:], "%X", &e.remote)
			_, qerr := fmt.Sscanf(f[4], "%X:%X", &tx, &rx)
			switch {
			case lerr != nil || rerr != nil || qerr != nil:
			case want[e] && rx == 0:
				read++
			case sent[e] && tx == 0:
				arrived++
			}
		}
		if read == len(want) && arrived == len(sent) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s %d of %d requests arrived and the server read %d", arrived, len(sent), read)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
