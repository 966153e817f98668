package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// Benchmarks of the token endpoint (code exchange and refresh, storage
// included), of JWKS and discovery serving, and the raw-signing reference they
// are compared with. BENCHMARKS.md explains the figures; every benchmark
// reports ops/s, and the token and document benchmarks also report their rate
// as a fraction of the reference measured in the same run (x-raw, x-file).
//
// The token and document benchmarks call the real handler (newServer's wiring,
// a bbolt file in b.TempDir, fsync on) with httptest.NewRecorder: that measures
// the server's own work per request. Over a loopback socket, the client's HTTP
// stack would run in this process and take a share of the same two CPUs, so
// the figure would mix client and server costs; the server-side HTTP parsing
// the recorder skips is a few microseconds against milliseconds of signing.
// The document benchmarks also run over loopback (their handlers are so cheap
// that the HTTP stack is what a client sees), and cmd/signet-load measures the
// whole path over the wire.

// benchIssuer is the real wiring with two confidential clients: one with RS256
// ID tokens, one with ES256 (access tokens are RS256, the default).
type benchIssuer struct {
	srv     *server
	issuer  string
	secrets map[string]string // client id -> secret
}

const benchRedirect = "http://127.0.0.1:9/cb"

func newBenchIssuer(b *testing.B) *benchIssuer {
	b.Helper()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(b.TempDir(), "data")
	// Cheap password hashing: the sign-in only sets up the benchmarks.
	cfg.Passwords.Argon2MemoryKiB, cfg.Passwords.Argon2Iterations, cfg.Passwords.Argon2Parallelism = 8192, 1, 1
	cfg.LogLevel = "error"
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	// The pages log every sign-in through the server's logger: discard it, to
	// keep the benchmark output to the figures.
	s, err := newServer(ctx, cfg, time.Now, withLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.store.Close() })
	bi := &benchIssuer{srv: s, issuer: cfg.Issuer, secrets: map[string]string{}}
	if _, err := s.admin.AddUser(ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com", Name: "Alice Example", Password: "correct horse battery"}); err != nil {
		b.Fatal(err)
	}
	for id, alg := range map[string]string{"RS256": "RS256", "ES256": "ES256"} {
		c, err := s.admin.AddClient(ctx, admin.AddClientInput{
			ID: id, Name: "Bench " + id, RedirectURIs: []string{benchRedirect}, FirstParty: true, IDTokenAlg: alg,
		})
		if err != nil {
			b.Fatal(err)
		}
		bi.secrets[id] = c.ClientSecret
	}
	return bi
}

// recBrowser drives the handler in process with a cookie jar of its own.
type recBrowser struct {
	b       *testing.B
	h       http.Handler
	issuer  string
	cookies map[string]string
}

func (bi *benchIssuer) browser(b *testing.B) *recBrowser {
	return &recBrowser{b: b, h: bi.srv.handler, issuer: bi.issuer, cookies: map[string]string{}}
}

func (rb *recBrowser) do(method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range rb.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	rec := httptest.NewRecorder()
	rb.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		rb.cookies[c.Name] = c.Value
	}
	return rec
}

// code runs authorize -> login (a form post the first time, the session after)
// -> callback for client and returns a code and its PKCE verifier.
func (rb *recBrowser) code(client string) (code, verifier string) {
	rb.b.Helper()
	verifier = base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("v", 24) + signettest.RandHex()))
	sum := sha256.Sum256([]byte(verifier))
	state := signettest.RandHex()
	target := rb.issuer + "/authorize?" + url.Values{
		"client_id": {client}, "response_type": {"code"}, "redirect_uri": {benchRedirect},
		"scope": {"openid profile email offline_access"}, "state": {state}, "nonce": {signettest.RandHex()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}.Encode()
	rec := rb.do(http.MethodGet, target, nil)
	for range 6 {
		switch {
		case rec.Code >= 300 && rec.Code < 400:
			loc, err := url.Parse(rec.Header().Get("Location"))
			if err != nil {
				rb.b.Fatal(err)
			}
			if strings.HasPrefix(loc.String(), benchRedirect) {
				q := loc.Query()
				if q.Get("state") != state || q.Get("code") == "" {
					rb.b.Fatalf("authorization response %s", loc)
				}
				return q.Get("code"), verifier
			}
			rec = rb.do(http.MethodGet, rb.issuer+loc.RequestURI(), nil)
		case rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), `name="password"`):
			form := url.Values{"username": {"alice"}, "password": {"correct horse battery"}}
			for _, m := range signettest.InputRE.FindAllStringSubmatch(rec.Body.String(), -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			rec = rb.do(http.MethodPost, rb.issuer+"/login", form)
		default:
			rb.b.Fatalf("sign-in: %d %s", rec.Code, rec.Body.String())
		}
	}
	rb.b.Fatal("sign-in: too many steps")
	return "", ""
}

// tokenRequest posts form to the token endpoint as client and returns the
// recorder (the caller checks it).
func (bi *benchIssuer) tokenRequest(client string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, bi.issuer+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, bi.secrets[client])
	rec := httptest.NewRecorder()
	bi.srv.handler.ServeHTTP(rec, req)
	return rec
}

type benchTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func checkTokens(rec *httptest.ResponseRecorder) (benchTokens, bool) {
	var t benchTokens
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &t) != nil || t.IDToken == "" || t.RefreshToken == "" {
		return t, false
	}
	return t, true
}

// exchangeForm is a code exchange as an RP sends it.
func exchangeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}
}

// Claims of the shape and size the provider signs (provider/token.go).
func benchClaims(issuer, client string) (access, id []byte) {
	access, _ = json.Marshal(map[string]any{
		"iss": issuer, "sub": "q0mD7hC1nJ8b2cT4vX6zWg", "aud": []string{issuer},
		"exp": 1767225600, "iat": 1767225000, "jti": "c2lnbmV0LWJlbmNoLWp0aS0x", "client_id": client,
		"scope": "openid profile email offline_access", "auth_time": 1767224000, "amr": []string{"pwd"},
		"sid": "Zx3w9Kq2mT7bN1vC5yR8aQ",
	})
	id, _ = json.Marshal(map[string]any{
		"iss": issuer, "sub": "q0mD7hC1nJ8b2cT4vX6zWg", "aud": []string{client},
		"exp": 1767228600, "iat": 1767225000, "auth_time": 1767224000, "nonce": "n-0S6_WzA2Mj",
		"acr": "urn:signet:acr:pwd", "amr": []string{"pwd"}, "azp": client,
		"at_hash": "77QmUPtjPfzWtF2AnpK9RQ", "sid": "Zx3w9Kq2mT7bN1vC5yR8aQ", "name": "Alice Example",
		"preferred_username": "alice", "email": "alice@example.com", "email_verified": true,
	})
	return access, id
}

// rawIssue returns the reference for one token response: raw go-jose (signers
// built once, keys of the server's algorithms and sizes, its kids) signing the
// access token (RS256, typ at+jwt) and the ID token (idAlg, typ JWT) of the
// same claims: the signatures a code exchange or a refresh needs, and nothing
// else. (The server's private keys never leave keys.)
func (bi *benchIssuer) rawIssue(b *testing.B, idAlg jose.SignatureAlgorithm) func() error {
	b.Helper()
	snap := bi.srv.keys.Snapshot()
	signer := func(alg jose.SignatureAlgorithm, typ string) jose.Signer {
		s, ok := snap.Signer(alg)
		if !ok {
			b.Fatalf("no active %s key", alg)
		}
		var priv crypto.Signer
		var err error
		if alg == jose.ES256 {
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		} else {
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			b.Fatal(err)
		}
		js, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{
			Key: priv, KeyID: s.KID, Algorithm: string(alg), Use: "sig",
		}}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
		if err != nil {
			b.Fatal(err)
		}
		return js
	}
	at, id := signer(jose.RS256, "at+jwt"), signer(idAlg, "JWT")
	atClaims, idClaims := benchClaims(bi.issuer, string(idAlg))
	return func() error {
		for _, p := range []struct {
			s jose.Signer
			c []byte
		}{{at, atClaims}, {id, idClaims}} {
			obj, err := p.s.Sign(p.c)
			if err != nil {
				return err
			}
			if _, err := obj.CompactSerialize(); err != nil {
				return err
			}
		}
		return nil
	}
}

// benchParallelism is the goroutines per CPU of the parallel variants: enough
// that one request's fsync overlaps another's signing.
const benchParallelism = 4

func rate(b *testing.B) float64 {
	if s := b.Elapsed().Seconds(); s > 0 {
		return float64(b.N) / s
	}
	return 0
}

// reportVs reports ops/s and, when the reference ran, the ratio to it.
func reportVs(b *testing.B, ref *float64, unit string) {
	r := rate(b)
	b.ReportMetric(r, "ops/s")
	if ref != nil && *ref > 0 {
		b.ReportMetric(r / *ref, unit)
	}
}

// calibrationTime is how long the reference runs right before and right after a
// token benchmark's timed loop.
const calibrationTime = 100 * time.Millisecond

// referenceRate runs fn (the raw-signing reference) for calibrationTime, on one
// goroutine (serial) or benchParallelism per CPU (parallel), and returns its
// rate. Measured next to the loop it is compared with, it shares that loop's
// machine conditions (this machine's CPUs are shared and their speed varies).
func referenceRate(mode string, fn func() error) float64 {
	workers := 1
	if mode != "serial" {
		workers = benchParallelism * runtime.GOMAXPROCS(0)
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(calibrationTime)
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if fn() != nil {
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// reportVsAdjacent reports ops/s and x-raw: the rate divided by the mean of
// the reference's rates measured just before (before) and just after the loop.
func reportVsAdjacent(b *testing.B, mode string, before float64, issue func() error) {
	r := rate(b)
	b.ReportMetric(r, "ops/s")
	if before <= 0 {
		return
	}
	ref := (before + referenceRate(mode, issue)) / 2
	b.ReportMetric(r/ref, "x-raw")
}

// BenchmarkTokenIssue measures the token endpoint end to end (client
// authentication, PKCE, storage with fsync, signing, JSON) for code exchange
// and refresh, with RS256 and ES256 ID tokens (the access token is RS256), and
// the raw-signing reference: raw/<alg> signs the same two tokens with go-jose
// and does nothing else. x-raw is the endpoint's rate divided by the
// reference's for the same signatures and mode, measured for 100 ms right
// before and right after the endpoint's timed loop.
func BenchmarkTokenIssue(b *testing.B) {
	bi := newBenchIssuer(b)
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.ES256}
	for _, alg := range algs {
		issue := bi.rawIssue(b, alg)
		for _, mode := range []string{"serial", "parallel"} {
			b.Run("raw/"+string(alg)+"/"+mode, func(b *testing.B) {
				runMode(b, mode, func() {
					if err := issue(); err != nil {
						b.Error(err)
					}
				})
				b.ReportMetric(rate(b), "ops/s")
			})
		}
	}

	for _, alg := range algs {
		client := string(alg)
		rb := bi.browser(b)
		issue := bi.rawIssue(b, alg)
		for _, mode := range []string{"serial", "parallel"} {
			b.Run("code/"+client+"/"+mode, func(b *testing.B) {
				// Codes for every iteration, through the real authorize and
				// callback (a signed-in session), before the timer starts.
				codes := make([][2]string, b.N)
				for i := range codes {
					codes[i][0], codes[i][1] = rb.code(client)
				}
				var next atomic.Int64
				before := calibrate(b, mode, issue)
				b.ResetTimer()
				runMode(b, mode, func() {
					c := codes[next.Add(1)-1]
					if _, ok := checkTokens(bi.tokenRequest(client, exchangeForm(c[0], c[1]))); !ok {
						b.Error("code exchange failed")
					}
				})
				b.StopTimer()
				reportVsAdjacent(b, mode, before, issue)
			})

			b.Run("refresh/"+client+"/"+mode, func(b *testing.B) {
				// One rotating chain per goroutine.
				chains := make(chan string, 64)
				for range cap(chains) {
					code, verifier := rb.code(client)
					t, ok := checkTokens(bi.tokenRequest(client, exchangeForm(code, verifier)))
					if !ok {
						b.Fatal("code exchange failed")
					}
					chains <- t.RefreshToken
				}
				before := calibrate(b, mode, issue)
				b.ResetTimer()
				runModeWith(b, mode, func() func() {
					current := <-chains
					return func() {
						t, ok := checkTokens(bi.tokenRequest(client, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current}}))
						if !ok {
							b.Error("refresh failed")
							return
						}
						current = t.RefreshToken
					}
				})
				b.StopTimer()
				reportVsAdjacent(b, mode, before, issue)
			})
		}
	}
}

// calibrate measures the reference before a timed loop; not for the first,
// one-iteration run the testing package makes to size b.N, whose figures it
// discards.
func calibrate(b *testing.B, mode string, issue func() error) float64 {
	if b.N <= 1 {
		return 0
	}
	return referenceRate(mode, issue)
}

// runMode runs fn b.N times: on this goroutine (serial) or spread over
// benchParallelism goroutines per CPU (parallel).
func runMode(b *testing.B, mode string, fn func()) {
	runModeWith(b, mode, func() func() { return fn })
}

// runModeWith is runMode with per-goroutine state: setup is called once per
// goroutine and returns its iteration.
func runModeWith(b *testing.B, mode string, setup func() func()) {
	if mode == "serial" {
		fn := setup()
		for range b.N {
			fn()
		}
		return
	}
	b.SetParallelism(benchParallelism)
	b.RunParallel(func(pb *testing.PB) {
		fn := setup()
		for pb.Next() {
			fn()
		}
	})
}

// BenchmarkDocuments serves the JWKS and the discovery document through the
// real handler and, as the reference, the same bytes from a static Go file
// server (http.FileServer on a file in a temporary directory) and from
// http.ServeContent. recorder calls each handler in process on one goroutine
// (the handler's own cost); loopback is a real server on 127.0.0.1 with
// keep-alive clients, 4 per CPU (what a relying party sees). x-file is the rate
// divided by the file server's in the same run and transport.
func BenchmarkDocuments(b *testing.B) {
	bi := newBenchIssuer(b)
	dir := b.TempDir()
	docs := []struct{ name, path, file string }{
		{"jwks", "/keys", "jwks.json"},
		{"discovery", "/.well-known/openid-configuration", "openid-configuration.json"},
	}
	for _, d := range docs {
		rec := httptest.NewRecorder()
		bi.srv.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, bi.issuer+d.path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", d.path, rec.Code)
		}
		body := rec.Body.Bytes()
		if err := os.WriteFile(filepath.Join(dir, d.file), body, 0o600); err != nil {
			b.Fatal(err)
		}
		modTime := time.Now()
		servers := []struct {
			name string
			h    http.Handler
			path string
		}{
			// The file server first: it is the reference of the others.
			{"fileserver", http.FileServer(http.Dir(dir)), "/" + d.file},
			{"servecontent", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				http.ServeContent(w, r, d.file, modTime, bytes.NewReader(body))
			}), "/" + d.file},
			{"signet", bi.srv.handler, d.path},
		}
		for _, transport := range []string{"recorder", "loopback"} {
			ref := new(float64)
			for _, s := range servers {
				b.Run(d.name+"/"+transport+"/"+s.name, func(b *testing.B) {
					if transport == "recorder" {
						req := httptest.NewRequest(http.MethodGet, bi.issuer+s.path, nil)
						for b.Loop() {
							rec := httptest.NewRecorder()
							s.h.ServeHTTP(rec, req)
							if rec.Code != http.StatusOK || rec.Body.Len() != len(body) {
								b.Fatalf("%s: %d, %d bytes", s.name, rec.Code, rec.Body.Len())
							}
						}
					} else {
						ts := httptest.NewServer(s.h)
						defer ts.Close()
						tr := &http.Transport{MaxIdleConnsPerHost: 64}
						defer tr.CloseIdleConnections()
						client := &http.Client{Transport: tr}
						b.ResetTimer()
						b.SetParallelism(benchParallelism)
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								resp, err := client.Get(ts.URL + s.path)
								if err != nil {
									b.Error(err)
									return
								}
								n, _ := io.Copy(io.Discard, resp.Body)
								resp.Body.Close()
								if resp.StatusCode != http.StatusOK || n != int64(len(body)) {
									b.Errorf("%s: %d, %d bytes", s.name, resp.StatusCode, n)
									return
								}
							}
						})
					}
					if s.name == "fileserver" {
						*ref = rate(b)
						b.ReportMetric(*ref, "ops/s")
						return
					}
					reportVs(b, ref, "x-file")
				})
			}
		}
	}
}
