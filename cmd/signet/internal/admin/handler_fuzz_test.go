package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/web/credentials/password"
)

// fuzzMethods are the methods FuzzHandler picks from.
var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions}

// newFuzzHandler is the admin API over a real Service on a bbolt file, with real
// signing keys, a person (alice) and a client (app).
func newFuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	st, err := boltstore.Open(filepath.Join(tb.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	ctx := context.Background()
	var kek [32]byte
	rand.Read(kek[:])
	// The keys' clock gains an hour at every look, so that retired keys are
	// deleted and a long fuzzing run does not pile up thousands of them.
	var ticks atomic.Int64
	start := time.Now()
	keyClock := func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * time.Hour) }
	km, err := keys.NewManager(st, kek, keys.Policy{RotationPeriod: 720 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 2 * time.Hour}, keyClock, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := km.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	rewrap := func(ctx context.Context, newKEK []byte) (string, error) {
		var k [32]byte
		if newKEK == nil {
			rand.Read(k[:])
		} else {
			copy(k[:], newKEK)
		}
		if err := km.Rewrap(ctx, k); err != nil {
			return "", err
		}
		return "rewrapped", nil
	}
	// The handler logs every 500 with its cause; the fuzzer needs no log
	// (a nil Log discards).
	svc := New(Config{Store: st, Hasher: password.New(password.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}, 2),
		Keys: km, Rewrap: rewrap})
	if _, err := svc.AddUser(ctx, AddUserInput{Username: "alice", Email: "alice@example.com", Name: "Alice", Password: "password-of-alice"}); err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.AddClient(ctx, AddClientInput{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		tb.Fatal(err)
	}
	return NewHandler(svc, nil)
}

// FuzzHandler sends arbitrary methods, paths and bodies to the admin API. Whatever
// the input: no panic, no 5xx, every error is {"error": one line, "kind": ...}
// JSON, a password or key-encryption key sent in a body never comes back in the
// answer, and no answer but an export with hashes carries a password hash.
func FuzzHandler(f *testing.F) {
	h := newFuzzHandler(f)
	method := func(m string) uint8 {
		for i, v := range fuzzMethods {
			if v == m {
				return uint8(i)
			}
		}
		return 0
	}
	for _, s := range []struct {
		method, path, body string
	}{
		{"POST", "/v1/user/add", `{"username":"bob","email":"bob@example.com","name":"Bob","password":"secret-password-123"}`},
		{"POST", "/v1/user/add", `{"username":"Bob","email":"bob@example.com","password":"secret-password-123"}`},
		{"POST", "/v1/user/add", `{"username":"carol","email":"carol@example.com","password":"short"}`},
		{"POST", "/v1/user/add", `{"username":"../x","email":"a@b","password":"secret-password-456","extra":1}`},
		{"POST", "/v1/user/add", `{"username":1}`},
		{"POST", "/v1/user/add", `{"username":"dave","email":"d@e","password":"secret-password-789"}{}`},
		{"POST", "/v1/user/add", `{"username":"erin","email":"e@f","name":"\u0000","password":"secret-password-000"}`},
		{"POST", "/v1/user/add", ``},
		{"POST", "/v1/user/add", `[` + strings.Repeat(`[`, 10000)},
		{"POST", "/v1/user/add", `{"password":"` + strings.Repeat("p", 70<<10) + `"}`},
		{"POST", "/v1/user/list", `{}`},
		{"POST", "/v1/user/list", `null`},
		{"POST", "/v1/user/show", `"alice"`},
		{"POST", "/v1/user/show", `"ALICE"`},
		{"POST", "/v1/user/show", `"nobody"`},
		{"POST", "/v1/user/show", `".."`},
		{"POST", "/v1/user/show", `{"username":"alice"}`},
		{"POST", "/v1/user/set-password", `{"username":"alice","password":"another-secret-password"}`},
		{"POST", "/v1/user/set-password", `{"username":"alice","password":"x"}`},
		{"POST", "/v1/user/set-password", `{"username":"nobody","password":"another-secret-password"}`},
		{"POST", "/v1/user/disable", `"alice"`},
		{"POST", "/v1/user/logout", `"alice"`},
		{"POST", "/v1/user/grants", `"alice"`},
		{"POST", "/v1/user/revoke-grant", `{"username":"alice","client_id":"app"}`},
		{"POST", "/v1/user/add-group", `{"username":"alice","groups":["staff"]}`},
		{"POST", "/v1/user/import", `{"users":[{"username":"zoe","email":"zoe@example.com"}],"dry_run":true}`},
		{"POST", "/v1/user/export", `true`},
		{"POST", "/v1/client/add", `{"id":"web","name":"Web","redirect_uris":["https://web.example/cb"]}`},
		{"POST", "/v1/client/add", `{"id":"cli","name":"CLI","public":true,"redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"]}`},
		{"POST", "/v1/client/add", `{"id":"bad","name":"Bad","redirect_uris":["javascript:alert(1)","https://x.example/cb#f","http://evil.example/cb","https://u@x.example/cb"]}`},
		{"POST", "/v1/client/add", `{"id":"app","name":"Dup","redirect_uris":["https://app.example/cb"]}`},
		{"POST", "/v1/client/add", `{"id":"x","name":"X","redirect_uris":null,"id_token_alg":"none","access_token_format":"weird"}`},
		{"POST", "/v1/client/add", `{"id":"y","name":"Y","redirect_uris":["https://y.example/cb"],"post_logout_redirect_uris":["https://y.example/out"],"backchannel_logout_uri":"https://y.example/bc"}`},
		{"POST", "/v1/client/list", `{}`},
		{"POST", "/v1/client/show", `"app"`},
		{"POST", "/v1/client/remove", `"app"`},
		{"POST", "/v1/client/remove", `"nope"`},
		{"POST", "/v1/client/update", `{"id":"app","add_redirect_uris":["http://evil.example/cb"]}`},
		{"POST", "/v1/api/show", `"https://api.example"`},
		{"POST", "/v1/keys/list", `{}`},
		{"POST", "/v1/keys/rotate", `"ES256"`},
		{"POST", "/v1/keys/rotate", `"none"`},
		{"POST", "/v1/keys/retire", `"nope"`},
		{"POST", "/v1/keys/rewrap", `{"new_key":"c2VjcmV0LWtleS1lbmNyeXB0aW9uLWtleS0wMTIzNDU2Nzg5"}`},
		{"POST", "/v1/keys/rewrap", `{"new_key":"not base64 at all, a secret"}`},
		{"GET", "/v1/user/list", ``},
		{"PUT", "/v1/user/add", `{}`},
		{"POST", "/v1//user/list", `{}`},
		{"POST", "/v1/user/../keys/list", `{}`},
		{"GET", "/", ``},
	} {
		f.Add(method(s.method), s.path, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, m uint8, path string, body []byte) {
		if len(path) > 4<<10 || len(body) > 128<<10 {
			return
		}
		if !strings.HasPrefix(path, "/") {
			// http.Server answers "OPTIONS *" itself; anything else starts with "/".
			path = "/" + path
		}
		body, secrets := fuzzMarkSecrets(body)
		// Only what a server would pass on: a parseable request target.
		u, err := url.ParseRequestURI(path)
		if err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodGet, "http://admin/", strings.NewReader(string(body)))
		r.Method = fuzzMethods[int(m)%len(fuzzMethods)]
		r.URL = u
		r.RequestURI = path
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", r.Method, path, rec.Code, rec.Body)
		}
		out := rec.Body.String()
		// An export with hashes is the one answer that carries them, on purpose.
		exportsHashes := u.Path == ExportUsers.path()
		lower := strings.ToLower(out)
		if strings.Contains(lower, "secret_hash") || !exportsHashes && (strings.Contains(out, "$argon2id$") || strings.Contains(lower, "password_hash")) {
			t.Fatalf("%s %s: the answer carries a hash: %s", r.Method, path, out)
		}
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Fatalf("%s %s: the answer echoes a secret of the request (%q): %s", r.Method, path, secret, out)
			}
		}
		switch {
		case rec.Code >= 300 && rec.Code < 400:
			// The mux cleaning a path: only ever to a path of this API.
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
				t.Fatalf("%s %s: redirect to %q", r.Method, path, loc)
			}
		case rec.Code >= 400:
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%s %s: %d with Content-Type %q: %s", r.Method, path, rec.Code, ct, out)
			}
			var e errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" || e.Kind == "" {
				t.Fatalf("%s %s: %d error body %q", r.Method, path, rec.Code, out)
			}
			if strings.ContainsAny(e.Error, "\r\n") {
				t.Fatalf("%s %s: error message is not one line: %q", r.Method, path, e.Error)
			}
		case rec.Code == http.StatusNoContent || r.Method == http.MethodHead:
		default:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: %d body is not JSON: %q", r.Method, path, rec.Code, out)
			}
		}
	})
}

// fuzzMarkSecrets replaces the password and new_key values of a JSON body by
// markers derived from them (same length; a new_key stays base64 of 32 bytes), so
// that finding a marker in the answer means the secret was echoed, never that it
// happened to spell a word of a fixed message. It returns the new body and the
// markers.
func fuzzMarkSecrets(body []byte) ([]byte, []string) {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body, nil
	}
	var markers []string
	for _, k := range []string{"password", "new_key"} {
		v, ok := m[k].(string)
		if !ok || len(v) < 8 {
			continue
		}
		sum := sha256.Sum256([]byte(v))
		var marker string
		if k == "new_key" && len(v) == 44 {
			marker = base64.StdEncoding.EncodeToString(sum[:])
		} else {
			marker = strings.Repeat(hex.EncodeToString(sum[:]), len(v)/64+1)[:len(v)]
		}
		lit, _ := json.Marshal(v)
		newLit, _ := json.Marshal(marker)
		re := regexp.MustCompile(`("` + k + `"\s*:\s*)` + regexp.QuoteMeta(string(lit)))
		if !re.Match(body) {
			continue
		}
		body = re.ReplaceAll(body, append([]byte("${1}"), newLit...))
		markers = append(markers, marker)
	}
	return body, markers
}
