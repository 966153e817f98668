package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/web/credentials/password"
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newTestService is a Service on a fresh store at testNow, with what the
// options add to its Config.
func newTestService(t *testing.T, opts ...func(*Config)) (*Service, storage.Store, *password.Hasher) {
	t.Helper()
	st := newStore(t)
	h := password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2)
	cfg := Config{Store: st, Hasher: h, Now: func() time.Time { return testNow }}
	for _, o := range opts {
		o(&cfg)
	}
	return New(cfg), st, h
}

// logTo sends a Service's log to w.
func logTo(w io.Writer) func(*Config) {
	return func(c *Config) {
		c.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// serveSocket serves svc's handler on a unix socket in a temp dir and returns a Client
// for it; the server stops at cleanup.
func serveSocket(t *testing.T, svc *Service) (*Client, string) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, sock, NewHandler(svc, nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	c := waitDial(t, sock, done)
	t.Cleanup(func() { c.Close() })
	return c, sock
}

// waitDial dials until the server listens (it starts in a goroutine).
func waitDial(t *testing.T, sock string, done chan error) *Client {
	t.Helper()
	c, err := WaitDial(sock, done, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServiceValidation(t *testing.T) {
	t.Parallel()
	svc, _, _ := newTestService(t)
	ctx := context.Background()
	if _, err := svc.AddClient(ctx, AddClientInput{ID: "taken", Name: "Taken", RedirectURIs: []string{"https://rp.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUser(ctx, AddUserInput{Username: "alice", Email: "alice@example.com", Password: "password1"}); err != nil {
		t.Fatal(err)
	}
	okClient := AddClientInput{ID: "app", Name: "App", RedirectURIs: []string{"https://rp.example/cb"}}
	okUser := AddUserInput{Username: "bob", Email: "bob@example.com", Name: "Bob", Password: "password1"}
	client := func(f func(*AddClientInput)) AddClientInput {
		in := okClient
		in.RedirectURIs = append([]string(nil), okClient.RedirectURIs...)
		f(&in)
		return in
	}
	user := func(f func(*AddUserInput)) AddUserInput { in := okUser; f(&in); return in }
	redirect := func(public bool, uris ...string) AddClientInput {
		return client(func(in *AddClientInput) { in.RedirectURIs, in.Public = uris, public })
	}

	clientCases := []struct {
		name    string
		in      AddClientInput
		want    error  // nil: accepted
		wantMsg string // substring of the message
	}{
		{"https", okClient, nil, ""},
		{"https with port and query", redirect(false, "https://rp.example:8443/cb?x=1"), nil, ""},
		{"http 127.0.0.1", redirect(false, "http://127.0.0.1:8080/cb"), nil, ""},
		{"http 127.8.9.10", redirect(false, "http://127.8.9.10/cb"), nil, ""},
		{"http [::1]", redirect(false, "http://[::1]:9000/cb"), nil, ""},
		{"http localhost", redirect(false, "http://localhost/cb"), nil, ""},
		{"native private-use scheme", redirect(true, "com.example.app:/oauth2redirect"), nil, ""},
		{"ES256 opaque first-party", client(func(in *AddClientInput) {
			in.IDTokenAlg, in.AccessTokenFormat, in.FirstParty = "ES256", "opaque", true
		}), nil, ""},
		{"duplicate id", client(func(in *AddClientInput) { in.ID = "taken" }), storage.ErrAlreadyExists, `client "taken" already exists`},
		{"empty id", client(func(in *AddClientInput) { in.ID = "" }), ErrInvalid, "client id"},
		{"id with slash", client(func(in *AddClientInput) { in.ID = "a/b" }), ErrInvalid, "client id"},
		{"id too long", client(func(in *AddClientInput) { in.ID = strings.Repeat("a", 129) }), ErrInvalid, "client id"},
		{"no name", client(func(in *AddClientInput) { in.Name = " " }), ErrInvalid, "name is required"},
		{"no redirect URI", redirect(false), ErrInvalid, "at least one redirect URI"},
		{"fragment", redirect(false, "https://rp.example/cb#frag"), ErrInvalid, "fragment"},
		{"empty fragment", redirect(false, "https://rp.example/cb#"), ErrInvalid, "fragment"},
		{"http non-loopback", redirect(false, "http://rp.example/cb"), ErrInvalid, "loopback"},
		{"http 10.0.0.1", redirect(false, "http://10.0.0.1/cb"), ErrInvalid, "loopback"},
		{"http localhost.evil", redirect(false, "http://localhost.evil.example/cb"), ErrInvalid, "loopback"},
		{"relative", redirect(false, "/cb"), ErrInvalid, "absolute"},
		{"no scheme", redirect(false, "rp.example/cb"), ErrInvalid, "absolute"},
		{"userinfo", redirect(false, "https://user:pw@rp.example/cb"), ErrInvalid, "user info"},
		{"https no host", redirect(false, "https:///cb"), ErrInvalid, "no host"},
		{"javascript", redirect(true, "javascript:alert(1)"), ErrInvalid, "scheme"},
		{"custom scheme without dot", redirect(true, "myapp:/cb"), ErrInvalid, "scheme"},
		{"custom scheme confidential", redirect(false, "com.example.app:/cb"), ErrInvalid, "public"},
		{"space", redirect(false, "https://rp.example/c b"), ErrInvalid, "spaces"},
		{"duplicate URI", redirect(false, "https://rp.example/cb", "https://rp.example/cb"), ErrInvalid, "twice"},
		{"bad alg", client(func(in *AddClientInput) { in.IDTokenAlg = "HS256" }), ErrInvalid, "HS256"},
		{"bad format", client(func(in *AddClientInput) { in.AccessTokenFormat = "paseto" }), ErrInvalid, "paseto"},
	}
	for i, tc := range clientCases {
		t.Run("client/"+tc.name, func(t *testing.T) {
			if tc.want == nil {
				tc.in.ID += "-" + string(rune('a'+i))
			}
			_, err := svc.AddClient(ctx, tc.in)
			checkErr(t, err, tc.want, tc.wantMsg)
		})
	}

	userCases := []struct {
		name    string
		in      AddUserInput
		want    error
		wantMsg string
	}{
		{"ok", okUser, nil, ""},
		{"all allowed characters", user(func(in *AddUserInput) { in.Username, in.Email = "A.b_c-d@e9", "abcd@example.com" }), nil, ""},
		{"email taken in another case", user(func(in *AddUserInput) { in.Username, in.Email = "carol", "BOB@example.com" }), storage.ErrAlreadyExists, "already used"},
		{"duplicate", user(func(in *AddUserInput) { in.Username = "alice" }), storage.ErrAlreadyExists, `user "alice" already exists`},
		{"duplicate in another case", user(func(in *AddUserInput) { in.Username = "Alice" }), storage.ErrAlreadyExists, "already exists"},
		{"empty username", user(func(in *AddUserInput) { in.Username = "" }), ErrInvalid, "username"},
		{"username with space", user(func(in *AddUserInput) { in.Username = "bob smith" }), ErrInvalid, "username"},
		{"username with slash", user(func(in *AddUserInput) { in.Username = "bob/x" }), ErrInvalid, "username"},
		{"username non-ASCII", user(func(in *AddUserInput) { in.Username = "bøb" }), ErrInvalid, "username"},
		{"username too long", user(func(in *AddUserInput) { in.Username = strings.Repeat("b", 65) }), ErrInvalid, "username"},
		{"no email", user(func(in *AddUserInput) { in.Email = "" }), ErrInvalid, "email"},
		{"email without @", user(func(in *AddUserInput) { in.Email = "bob.example.com" }), ErrInvalid, "email"},
		{"email with two @", user(func(in *AddUserInput) { in.Email = "bob@x@example.com" }), ErrInvalid, "email"},
		{"email too long", user(func(in *AddUserInput) { in.Email = "b@" + strings.Repeat("e", 253) }), ErrInvalid, "email"},
		{"name too long", user(func(in *AddUserInput) { in.Name = strings.Repeat("é", 201) }), ErrInvalid, "name"},
		{"name with newline", user(func(in *AddUserInput) { in.Name = "Bob\nAdmin" }), ErrInvalid, "name"},
		{"short password", user(func(in *AddUserInput) { in.Password = "short7!" }), ErrInvalid, "password"},
		{"long password", user(func(in *AddUserInput) { in.Password = strings.Repeat("p", 1025) }), ErrInvalid, "password"},
	}
	for i, tc := range userCases {
		t.Run("user/"+tc.name, func(t *testing.T) {
			if tc.want == nil {
				tc.in.Username += string(rune('a' + i))
			}
			u, err := svc.AddUser(ctx, tc.in)
			checkErr(t, err, tc.want, tc.wantMsg)
			if err != nil && tc.in.Password != "" && strings.Contains(err.Error(), tc.in.Password) {
				t.Errorf("error %q contains the password", err)
			}
			if err == nil && (len(u.ID) != 32 || u.ID == u.Username) {
				t.Errorf("user id %q: want 32 hex characters, not the username", u.ID)
			}
		})
	}
}

func checkErr(t *testing.T, err, want error, wantMsg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want errors.Is %v", err, want)
	}
	if !strings.Contains(err.Error(), wantMsg) {
		t.Errorf("err = %q, want it to mention %q", err, wantMsg)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %q spans lines", err)
	}
}

// exercise runs every operation through m, which works on store: the same checks for
// the Service and for a Client over the socket.
func exercise(t *testing.T, m Manager, store storage.Store, h *password.Hasher) {
	ctx := context.Background()

	// Users.
	const pw = "correct horse battery"
	u, err := AddUser.Call(ctx, m, AddUserInput{Username: "alice", Email: "alice@example.com", Name: "Alice Liddell", Password: pw})
	if err != nil {
		t.Fatalf("AddUser: %v", err)
	}
	want := UserInfo{ID: u.ID, Username: "alice", Email: "alice@example.com", Name: "Alice Liddell", CreatedAt: testNow}
	if !u.CreatedAt.Equal(testNow) || u.ID == "" {
		t.Errorf("AddUser = %+v, want %+v", u, want)
	}
	if _, err := AddUser.Call(ctx, m, AddUserInput{Username: "alice", Email: "a@example.com", Password: pw}); !errors.Is(err, storage.ErrAlreadyExists) {
		t.Errorf("AddUser(duplicate): err = %v, want ErrAlreadyExists", err)
	}
	if _, err := AddUser.Call(ctx, m, AddUserInput{Username: "bad name", Email: "a@example.com", Password: pw}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddUser(bad username): err = %v, want ErrInvalid", err)
	}
	if _, err := AddUser.Call(ctx, m, AddUserInput{Username: "dot.user", Email: "d@example.com", Password: pw}); err != nil {
		t.Fatalf("AddUser(dot.user): %v", err)
	}
	users, err := ListUsers.Call(ctx, m, None{})
	if err != nil || len(users) != 2 || users[0].Username != "alice" || users[1].Username != "dot.user" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	got, err := ShowUser.Call(ctx, m, "alice")
	if err != nil || got.ID != u.ID || got.Email != want.Email || got.Name != want.Name || got.Disabled {
		t.Errorf("ShowUser = %+v, %v; want %+v", got, err, want)
	}
	for _, name := range []string{"nobody", ".", ".."} {
		if _, err := ShowUser.Call(ctx, m, name); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("ShowUser(%q): err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := ShowUser.Call(ctx, m, "a/b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ShowUser(a/b): err = %v, want ErrInvalid", err)
	}
	stored, _ := store.GetUserByUsername(ctx, "alice")
	if ok, _, err := h.Verify(ctx, stored.PasswordHash, pw); !ok || err != nil {
		t.Errorf("stored hash does not verify: %v, %v", ok, err)
	}

	// SetPassword.
	const pw2 = "another good password"
	if _, err := SetPassword.Call(ctx, m, SetPasswordInput{Username: "alice", Password: pw2}); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	stored, _ = store.GetUserByUsername(ctx, "alice")
	if ok, _, _ := h.Verify(ctx, stored.PasswordHash, pw2); !ok {
		t.Error("new password does not verify")
	}
	if _, err := SetPassword.Call(ctx, m, SetPasswordInput{Username: "alice", Password: "short"}); !errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), "short") {
		t.Errorf("SetPassword(short): err = %v, want ErrInvalid without the password", err)
	}
	if _, err := SetPassword.Call(ctx, m, SetPasswordInput{Username: "nobody", Password: pw2}); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetPassword(nobody): err = %v, want ErrNotFound", err)
	}

	// DisableUser ends sessions and refresh families.
	if err := store.CreateSession(ctx, &storage.Session{ID: "s1", SID: "sid1", UserID: u.ID, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := DisableUser.Call(ctx, m, "alice"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	if got, _ := ShowUser.Call(ctx, m, "alice"); !got.Disabled {
		t.Error("ShowUser after DisableUser: not disabled")
	}
	if _, err := store.GetSession(ctx, "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("session after DisableUser: err = %v, want ErrNotFound", err)
	}
	if _, err := DisableUser.Call(ctx, m, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DisableUser(nobody): err = %v, want ErrNotFound", err)
	}

	// Clients.
	conf, err := AddClient.Call(ctx, m, AddClientInput{ID: "web", Name: "Web app", RedirectURIs: []string{"https://rp.example/cb", "http://127.0.0.1:8080/cb"}})
	if err != nil {
		t.Fatalf("AddClient: %v", err)
	}
	if conf.ClientID != "web" || conf.ClientSecret == "" {
		t.Fatalf("AddClient = %+v, want id and secret", conf)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(conf.ClientSecret); err != nil || len(raw) != 32 {
		t.Errorf("secret %q: want 32 bytes base64url without padding (%v)", conf.ClientSecret, err)
	}
	sc, _ := store.GetClient(ctx, "web")
	if sum := sha256.Sum256([]byte(conf.ClientSecret)); !bytes.Equal(sc.SecretHash, sum[:]) {
		t.Error("stored SecretHash is not SHA-256 of the secret")
	}
	pub, err := AddClient.Call(ctx, m, AddClientInput{ID: "cli", Name: "CLI", RedirectURIs: []string{"com.example.cli:/cb"}, Public: true, IDTokenAlg: "ES256"})
	if err != nil || pub.ClientSecret != "" {
		t.Fatalf("AddClient(public) = %+v, %v; want no secret", pub, err)
	}
	if _, err := AddClient.Call(ctx, m, AddClientInput{ID: "web", Name: "Again", RedirectURIs: []string{"https://rp.example/cb"}}); !errors.Is(err, storage.ErrAlreadyExists) || !strings.Contains(err.Error(), "exists") {
		t.Errorf("AddClient(duplicate): err = %v, want ErrAlreadyExists", err)
	}
	if _, err := AddClient.Call(ctx, m, AddClientInput{ID: "x", Name: "X", RedirectURIs: []string{"https://rp.example/cb#f"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddClient(fragment): err = %v, want ErrInvalid", err)
	}
	clients, err := ListClients.Call(ctx, m, None{})
	if err != nil || len(clients) != 2 || clients[0].ID != "cli" || clients[1].ID != "web" {
		t.Fatalf("ListClients = %+v, %v", clients, err)
	}
	ci, err := ShowClient.Call(ctx, m, "web")
	if err != nil || ci.Name != "Web app" || len(ci.RedirectURIs) != 2 || ci.Public || ci.IDTokenAlg != "RS256" || ci.AccessTokenFormat != "jwt" || !ci.CreatedAt.Equal(testNow) {
		t.Errorf("ShowClient(web) = %+v, %v", ci, err)
	}
	ci, err = ShowClient.Call(ctx, m, "cli")
	if err != nil || !ci.Public || ci.IDTokenAlg != "ES256" {
		t.Errorf("ShowClient(cli) = %+v, %v", ci, err)
	}
	if _, err := RemoveClient.Call(ctx, m, "cli"); err != nil {
		t.Fatalf("RemoveClient: %v", err)
	}
	if _, err := ShowClient.Call(ctx, m, "cli"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ShowClient(removed): err = %v, want ErrNotFound", err)
	}
	if _, err := RemoveClient.Call(ctx, m, "cli"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RemoveClient(removed): err = %v, want ErrNotFound", err)
	}

	// Keys: public information only.
	err = store.UpdateKeys(ctx, func([]*storage.SigningKey) ([]*storage.SigningKey, error) {
		return []*storage.SigningKey{
			{ID: "k2", Alg: "ES256", State: storage.KeyNext, PublicJWK: []byte(`{}`), Sealed: []byte("SEALED"), CreatedAt: testNow.Add(time.Hour)},
			{ID: "k1", Alg: "RS256", State: storage.KeyActive, PublicJWK: []byte(`{}`), Sealed: []byte("SEALED"), CreatedAt: testNow, ActivatedAt: testNow},
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ListKeys.Call(ctx, m, None{})
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[0].State != "active" || !keys[0].ActivatedAt.Equal(testNow) || keys[1].Alg != "ES256" {
		t.Errorf("ListKeys = %+v, %v", keys, err)
	}
	if b, _ := json.Marshal(keys); bytes.Contains(b, []byte("SEALED")) || bytes.Contains(b, []byte("U0VBTEVE")) {
		t.Errorf("ListKeys JSON leaks the sealed key: %s", b)
	}
	if b, _ := json.Marshal(users); bytes.Contains(b, []byte("argon2")) {
		t.Errorf("ListUsers JSON leaks the hash: %s", b)
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	svc, st, h := newTestService(t)
	exercise(t, svc, st, h)
}

func TestClientOverSocket(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	svc, st, h := newTestService(t, logTo(&logs))
	c, sock := serveSocket(t, svc)

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	// The temporary directory the socket was made in goes just after the
	// socket appears, and a client may dial in between: wait for it, a while.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		entries, _ := os.ReadDir(filepath.Dir(sock))
		if len(entries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("data dir holds %d entries, want only the socket (temporary directory left behind?)", len(entries))
		}
	}

	exercise(t, c, st, h)

	if strings.Contains(logs.String(), "correct horse") || strings.Contains(logs.String(), "another good password") {
		t.Errorf("a password reached the log:\n%s", logs.String())
	}

	// A second server on the same socket refuses to start.
	err = ListenAndServe(context.Background(), sock, http.NotFoundHandler())
	if err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second ListenAndServe: err = %v, want it to refuse", err)
	}
}

func TestListenAndServeLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")

	if _, err := Dial(sock); err == nil {
		t.Fatal("Dial with no socket succeeded")
	}

	// A stale socket (its process died) is replaced.
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := Dial(sock); err == nil {
		t.Fatal("Dial on a stale socket succeeded")
	}

	svc, _, _ := newTestService(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, sock, NewHandler(svc, nil)) }()
	c := waitDial(t, sock, done)
	if _, err := ListUsers.Call(context.Background(), c, None{}); err != nil {
		t.Fatalf("ListUsers: %v", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still there after shutdown: %v", err)
	}
	if _, err := Dial(sock); err == nil {
		t.Error("Dial after shutdown succeeded")
	}

	// A regular file in the way is not removed.
	if err := os.WriteFile(sock, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := ListenAndServe(context.Background(), sock, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("ListenAndServe over a file: err = %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "keep" {
		t.Error("the file in the way was changed")
	}
}

func TestHandlerRequests(t *testing.T) {
	t.Parallel()
	svc, _, _ := newTestService(t)
	srv := httptest.NewServer(NewHandler(svc, nil))
	defer srv.Close()

	post := func(path, body string) (int, errorBody) {
		t.Helper()
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb errorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb
	}
	const secret = "hunter2hunter2"
	for _, tc := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"unknown field", "/v1/user/add", `{"username":"a","email":"a@b","password":"` + secret + `","admin":true}`, 400, `unknown field "admin"`},
		{"wrong type", "/v1/user/add", `{"username":1}`, 400, `field "username"`},
		{"not JSON", "/v1/user/add", `password=` + secret, 400, "not valid JSON"},
		{"two values", "/v1/user/add", `{} {}`, 400, "more than one"},
		{"empty", "/v1/user/add", ``, 400, "empty"},
		{"too big", "/v1/user/add", `{"name":"` + strings.Repeat("x", maxBody) + `"}`, 400, "larger than"},
		{"invalid", "/v1/user/add", `{"username":"a","email":"nope","password":"` + secret + `"}`, 400, "email"},
		{"password unknown user", "/v1/user/set-password", `{"username":"ghost","password":"` + secret + `"}`, 404, `user "ghost" not found`},
		{"no such endpoint", "/v1/nothing", `{}`, 404, "no such"},
		{"created", "/v1/client/add", `{"id":"c","name":"C","redirect_uris":["https://rp.example/cb"],"public":true}`, 200, ""},
		{"exists", "/v1/client/add", `{"id":"c","name":"C","redirect_uris":["https://rp.example/cb"]}`, 409, "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, eb := post(tc.path, tc.body)
			if status != tc.status || !strings.Contains(eb.Error, tc.msg) {
				t.Errorf("POST %s = %d %q, want %d mentioning %q", tc.path, status, eb.Error, tc.status, tc.msg)
			}
			if strings.Contains(eb.Error, secret) {
				t.Errorf("error %q contains the password", eb.Error)
			}
		})
	}
}

// failingStore makes every call fail with an internal error.
type failingStore struct{ storage.Store }

func (failingStore) ListUsers(context.Context) ([]*storage.User, error) {
	return nil, errors.New("disk on fire")
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	svc := New(Config{Store: failingStore{newStore(t)}, Hasher: password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 1),
		Log: slog.New(slog.NewTextHandler(&logs, nil))})
	c, _ := serveSocket(t, svc)
	_, err := ListUsers.Call(context.Background(), c, None{})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindInternal || strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("err = %v, want a generic internal *Error", err)
	}
	if !strings.Contains(logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged: %s", logs.String())
	}
}

// TestEveryOperationServed: every operation of the table answers on its path
// (an empty body is refused there, not taken for an unknown endpoint), and
// only with POST.
func TestEveryOperationServed(t *testing.T) {
	t.Parallel()
	svc, _, _ := newTestService(t)
	h := NewHandler(svc, nil)
	if len(ops) < 35 {
		t.Fatalf("%d operations in the table", len(ops))
	}
	for _, op := range ops {
		for method, want := range map[string]string{http.MethodPost: "request body is empty", http.MethodGet: "no such admin API endpoint"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, op.path(), strings.NewReader("")))
			var eb errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || !strings.Contains(eb.Error, want) {
				t.Errorf("%s %s = %d %s, want %q", method, op.path(), rec.Code, rec.Body, want)
			}
		}
	}
}
