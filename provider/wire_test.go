package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage"
)

var updateWire = flag.Bool("update-wire", false, "rewrite testdata/wire.golden")

// wireCase is one request to the protocol endpoints.
type wireCase struct {
	name    string
	method  string
	target  string // path and query
	header  http.Header
	body    string
	setBody func() string // computed after the earlier cases ran (a code, a token)
}

// TestWireTranscript sends a fixed battery of requests to every protocol
// endpoint and compares what comes back (status, headers, body, with the
// random values masked) with testdata/wire.golden: every status, header
// (WWW-Authenticate, Cache-Control, CORS, ETag, Allow), error JSON and
// redirect (iss included) is held there, so that a change of how the
// endpoints are served cannot change what they answer unnoticed.
func TestWireTranscript(t *testing.T) {
	p, st := newWireProvider(t)
	ctx := context.Background()
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	with := func(h http.Header, kv ...string) http.Header {
		out := h.Clone()
		if out == nil {
			out = http.Header{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	appBasic := with(form, "Authorization", basic("app", "app-secret"))

	// A finished sign-in whose code the token cases redeem.
	code := func(id string, scopes []string) func() string {
		return func() string {
			now := time.Now().UTC()
			ar := &storage.AuthRequest{
				ID: id, ClientID: "app", RedirectURI: "https://app.example/cb", Scopes: scopes, GrantedScopes: scopes,
				ResponseType: "code", State: "st", Nonce: "n", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
				Done: true, UserID: "u1", AuthTime: now, AMR: []string{"pwd"},
			}
			if err := st.CreateAuthRequest(ctx, ar); err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, fuzzIssuer+provider.PathCallback+"?id="+id, nil))
			u, err := url.Parse(rec.Header().Get("Location"))
			if err != nil || u.Query().Get("code") == "" {
				t.Fatalf("callback: %d %q", rec.Code, rec.Header().Get("Location"))
			}
			return url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")}, "redirect_uri": {"https://app.example/cb"}}.Encode()
		}
	}
	var tokens struct{ access, refresh string }
	grab := func(body []byte) {
		var r struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(body, &r) == nil && r.AccessToken != "" {
			tokens.access, tokens.refresh = r.AccessToken, r.RefreshToken
		}
	}
	bearer := func() http.Header { return http.Header{"Authorization": {"Bearer " + tokens.access}} }
	tokenForm := func(kv ...string) func() string {
		return func() string {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				val := kv[i+1]
				switch val {
				case "$access":
					val = tokens.access
				case "$refresh":
					val = tokens.refresh
				}
				v.Add(kv[i], val)
			}
			return v.Encode()
		}
	}

	cases := []wireCase{
		{name: "discovery", method: "GET", target: provider.PathDiscovery},
		{name: "discovery HEAD", method: "HEAD", target: provider.PathDiscovery},
		{name: "discovery from a registered origin", method: "GET", target: provider.PathDiscovery, header: http.Header{"Origin": {"https://app.example"}}},
		{name: "discovery from another origin", method: "GET", target: provider.PathDiscovery, header: http.Header{"Origin": {"https://evil.example"}}},
		{name: "discovery POST", method: "POST", target: provider.PathDiscovery},
		{name: "discovery with a trailing slash", method: "GET", target: provider.PathDiscovery + "/"},
		{name: "jwks", method: "GET", target: provider.PathJWKS},
		{name: "jwks PUT", method: "PUT", target: provider.PathJWKS},
		{name: "jwks If-None-Match *", method: "GET", target: provider.PathJWKS, header: http.Header{"If-None-Match": {"*"}}},
		{name: "preflight to the token endpoint", method: "OPTIONS", target: provider.PathToken,
			header: http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization"}}},
		{name: "preflight from another origin", method: "OPTIONS", target: provider.PathUserinfo,
			header: http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"GET"}}},
		{name: "OPTIONS without preflight", method: "OPTIONS", target: provider.PathToken},
		{name: "unknown path", method: "GET", target: "/oauth/nothing"},
		{name: "health route of the library", method: "GET", target: "/healthz"},
		{name: "readiness route of the library", method: "GET", target: "/ready"},
		{name: "token at an escaped path", method: "POST", target: "/oauth/%74oken", header: form, body: "grant_type=password"},
		{name: "jwks at an escaped path", method: "GET", target: "/%6Beys"},
		{name: "jwks with a trailing slash", method: "GET", target: provider.PathJWKS + "/"},

		{name: "authorize HEAD", method: "HEAD", target: provider.PathAuthorize + "?client_id=app"},
		{name: "authorize PUT", method: "PUT", target: provider.PathAuthorize},
		{name: "authorize DELETE", method: "DELETE", target: provider.PathAuthorize},
		{name: "callback HEAD", method: "HEAD", target: provider.PathCallback + "?id=x"},
		{name: "callback POST", method: "POST", target: provider.PathCallback + "?id=x"},
		{name: "callback unknown", method: "GET", target: provider.PathCallback + "?id=x"},
		{name: "callback without id", method: "GET", target: provider.PathCallback},

		{name: "token GET", method: "GET", target: provider.PathToken},
		{name: "token HEAD", method: "HEAD", target: provider.PathToken},
		{name: "token empty", method: "POST", target: provider.PathToken, header: form},
		{name: "token oversized", method: "POST", target: provider.PathToken, header: form, body: "a=" + strings.Repeat("b", 70<<10)},
		{name: "token unknown grant", method: "POST", target: provider.PathToken, header: form, body: "grant_type=password"},
		{name: "token jwt-bearer", method: "POST", target: provider.PathToken, header: form, body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x"},
		{name: "token code without code", method: "POST", target: provider.PathToken, header: form, body: "grant_type=authorization_code"},
		{name: "token code without client", method: "POST", target: provider.PathToken, header: form, body: "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"},
		{name: "token code wrong secret", method: "POST", target: provider.PathToken, header: with(form, "Authorization", basic("app", "nope")), body: "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"},
		{name: "token code unknown client in the body", method: "POST", target: provider.PathToken, header: form, body: "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&client_id=nope&client_secret=x"},
		{name: "token Basic and client_secret", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=authorization_code&client_secret=x"},
		{name: "token Basic and another client_id", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=authorization_code&client_id=other"},
		{name: "token bad assertion", method: "POST", target: provider.PathToken, header: form, body: "grant_type=authorization_code&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z"},
		{name: "token assertion type only", method: "POST", target: provider.PathToken, header: form, body: "grant_type=authorization_code&client_assertion_type=x"},
		{name: "token code invalid", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"},
		{name: "token code exchange", method: "POST", target: provider.PathToken, header: appBasic, setBody: code("ar-1", []string{"openid", "profile", "email"})},
		{name: "token code replayed", method: "POST", target: provider.PathToken, header: appBasic, setBody: func() string {
			return ""
		}},
		{name: "token refresh", method: "POST", target: provider.PathToken, header: appBasic, setBody: tokenForm("grant_type", "refresh_token", "refresh_token", "$refresh")},
		{name: "token refresh without token", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=refresh_token"},
		{name: "token refresh unknown", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=refresh_token&refresh_token=nope"},
		{name: "token client_credentials not registered", method: "POST", target: provider.PathToken, header: appBasic, body: "grant_type=client_credentials"},
		{name: "token client_credentials", method: "POST", target: provider.PathToken, header: with(form, "Authorization", basic("svc", "svc-secret")), body: "grant_type=client_credentials&scope=calendar.read"},
		{name: "token client_credentials no secret", method: "POST", target: provider.PathToken, header: form, body: "grant_type=client_credentials&client_id=svc"},
		{name: "token device_code missing", method: "POST", target: provider.PathToken, header: form, body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv"},
		{name: "token device_code unknown", method: "POST", target: provider.PathToken, header: form, body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv&device_code=x"},
		{name: "token device_code unknown client", method: "POST", target: provider.PathToken, header: form, body: "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=nope&device_code=x"},

		{name: "device authorization GET", method: "GET", target: provider.PathDeviceAuthorization},
		{name: "device authorization unknown client", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "client_id=nope"},
		{name: "device authorization no client", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "scope=openid"},
		{name: "device authorization not registered", method: "POST", target: provider.PathDeviceAuthorization, header: appBasic, body: "scope=openid"},
		{name: "device authorization Basic and secret", method: "POST", target: provider.PathDeviceAuthorization, header: appBasic, body: "client_secret=x"},
		{name: "device authorization public with secret", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "client_id=tv&client_secret=x"},
		{name: "device authorization no scope", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "client_id=tv"},
		{name: "device authorization", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "client_id=tv&scope=openid"},
		{name: "device authorization oversized", method: "POST", target: provider.PathDeviceAuthorization, header: form, body: "a=" + strings.Repeat("b", 70<<10)},

		{name: "userinfo", method: "GET", target: provider.PathUserinfo, header: nil},
		{name: "userinfo HEAD", method: "HEAD", target: provider.PathUserinfo},
		{name: "userinfo PUT", method: "PUT", target: provider.PathUserinfo},
		{name: "userinfo token in the query", method: "GET", target: provider.PathUserinfo + "?access_token=x"},
		{name: "userinfo bad token", method: "GET", target: provider.PathUserinfo, header: http.Header{"Authorization": {"Bearer nope"}}},
		{name: "userinfo Basic", method: "GET", target: provider.PathUserinfo, header: http.Header{"Authorization": {"Basic eDp5"}}},
		{name: "userinfo POST token twice", method: "POST", target: provider.PathUserinfo, header: form, body: "access_token=a&access_token=b"},
		{name: "userinfo POST bad token", method: "POST", target: provider.PathUserinfo, header: form, body: "access_token=a"},
		{name: "userinfo POST oversized", method: "POST", target: provider.PathUserinfo, header: form, body: "a=" + strings.Repeat("b", 70<<10)},

		{name: "introspect GET", method: "GET", target: provider.PathIntrospect},
		{name: "introspect no client", method: "POST", target: provider.PathIntrospect, header: form, body: "token=x"},
		{name: "introspect client_id only", method: "POST", target: provider.PathIntrospect, header: form, body: "token=x&client_id=app&client_secret=app-secret"},
		{name: "introspect wrong secret", method: "POST", target: provider.PathIntrospect, header: with(form, "Authorization", basic("app", "nope")), body: "token=x"},
		{name: "introspect unknown token", method: "POST", target: provider.PathIntrospect, header: appBasic, body: "token=x"},
		{name: "introspect no token", method: "POST", target: provider.PathIntrospect, header: appBasic},
		{name: "introspect token twice", method: "POST", target: provider.PathIntrospect, header: appBasic, body: "token=x&token=y"},
		{name: "introspect bad assertion", method: "POST", target: provider.PathIntrospect, header: form, body: "token=x&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z"},
		{name: "introspect API wrong secret", method: "POST", target: provider.PathIntrospect, header: with(form, "Authorization", basic("https://api.example", "nope")), body: "token=x"},
		{name: "introspect API", method: "POST", target: provider.PathIntrospect, header: with(form, "Authorization", basic("https://api.example", "api-secret")), body: "token=x"},
		{name: "introspect oversized", method: "POST", target: provider.PathIntrospect, header: appBasic, body: "a=" + strings.Repeat("b", 70<<10)},

		{name: "revoke GET", method: "GET", target: provider.PathRevoke},
		{name: "revoke no client", method: "POST", target: provider.PathRevoke, header: form, body: "token=x"},
		{name: "revoke wrong secret", method: "POST", target: provider.PathRevoke, header: with(form, "Authorization", basic("app", "nope")), body: "token=x"},
		{name: "revoke unknown client", method: "POST", target: provider.PathRevoke, header: form, body: "token=x&client_id=nope"},
		{name: "revoke confidential without secret", method: "POST", target: provider.PathRevoke, header: form, body: "token=x&client_id=app"},
		{name: "revoke public", method: "POST", target: provider.PathRevoke, header: form, body: "token=x&client_id=tv"},
		{name: "revoke Basic and secret", method: "POST", target: provider.PathRevoke, header: appBasic, body: "token=x&client_secret=x"},
		{name: "revoke unknown token", method: "POST", target: provider.PathRevoke, header: appBasic, body: "token=x"},
		{name: "revoke no token", method: "POST", target: provider.PathRevoke, header: appBasic},
		{name: "revoke token twice", method: "POST", target: provider.PathRevoke, header: appBasic, body: "token=x&token=y"},
		{name: "revoke bad assertion", method: "POST", target: provider.PathRevoke, header: form, body: "token=x&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=x.y.z"},
		{name: "revoke oversized", method: "POST", target: provider.PathRevoke, header: appBasic, body: "a=" + strings.Repeat("b", 70<<10)},
	}
	// The cases with a live token run after the code exchange (grab).
	live := []wireCase{
		{name: "userinfo live token", method: "GET", target: provider.PathUserinfo},
		{name: "userinfo live token POST", method: "POST", target: provider.PathUserinfo, header: form, setBody: tokenForm("access_token", "$access")},
		{name: "introspect live token", method: "POST", target: provider.PathIntrospect, header: appBasic, setBody: tokenForm("token", "$access")},
		{name: "introspect live refresh token", method: "POST", target: provider.PathIntrospect, header: appBasic, setBody: tokenForm("token", "$refresh")},
		{name: "introspect live token as the API", method: "POST", target: provider.PathIntrospect, header: with(form, "Authorization", basic("https://api.example", "api-secret")), setBody: tokenForm("token", "$access")},
		{name: "revoke live token of another client", method: "POST", target: provider.PathRevoke, header: form, setBody: tokenForm("token", "$access", "client_id", "tv")},
		{name: "revoke live access token", method: "POST", target: provider.PathRevoke, header: appBasic, setBody: tokenForm("token", "$access", "token_type_hint", "access_token")},
		{name: "userinfo revoked token", method: "GET", target: provider.PathUserinfo},
		{name: "introspect revoked token", method: "POST", target: provider.PathIntrospect, header: appBasic, setBody: tokenForm("token", "$access")},
		{name: "revoke live refresh token", method: "POST", target: provider.PathRevoke, header: appBasic, setBody: tokenForm("token", "$refresh")},
		{name: "refresh revoked", method: "POST", target: provider.PathToken, header: appBasic, setBody: tokenForm("grant_type", "refresh_token", "refresh_token", "$refresh")},
	}
	// Authorization requests: the fuzz seeds, as GET and as POST.
	var authz []wireCase
	tenant := "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Ftenant%3D1&response_type=code&scope=openid&state=s"
	extra := []string{
		tenant + "&prompt=none&prompt=login",
		tenant + "&id_token_hint=eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		tenant + "&response_type=token",
		"client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid&prompt=none&prompt=consent",
		"client_id=native&redirect_uri=com.example.app%3A%2Foauth&response_type=code&scope=openid&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=none&prompt=login",
	}
	for i, q := range append(authorizeSeeds(), extra...) {
		authz = append(authz,
			wireCase{name: fmt.Sprintf("authorize GET %d", i), method: "GET", target: provider.PathAuthorize + "?" + q},
			wireCase{name: fmt.Sprintf("authorize POST %d", i), method: "POST", target: provider.PathAuthorize, header: form, body: q})
	}

	var out strings.Builder
	var lastCode string
	run := func(c wireCase) {
		body := c.body
		if c.setBody != nil {
			body = c.setBody()
		}
		if c.name == "token code replayed" {
			body = lastCode
		}
		if strings.Contains(body, "code=") && strings.Contains(body, "authorization_code") {
			lastCode = body
		}
		h := c.header
		if strings.HasPrefix(c.name, "userinfo live token") && c.method == "GET" || c.name == "userinfo revoked token" {
			h = bearer()
		}
		r := httptest.NewRequest(c.method, fuzzIssuer+c.target, strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, r)
		grab(rec.Body.Bytes())
		fmt.Fprintf(&out, "### %s\n%s %s\n%d\n", c.name, c.method, truncateWire(c.target, 300), rec.Code)
		keys := make([]string, 0, len(rec.Header()))
		for k := range rec.Header() {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			for _, v := range rec.Header()[k] {
				fmt.Fprintf(&out, "%s: %s\n", k, maskWire(k, v))
			}
		}
		fmt.Fprintf(&out, "\n%s\n", maskWire("", rec.Body.String()))
	}
	for _, c := range cases {
		run(c)
	}
	for _, c := range live {
		run(c)
	}
	for _, c := range authz {
		run(c)
	}

	golden := "testdata/wire.golden"
	if *updateWire {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(want) {
		gotBlocks, wantBlocks := strings.Split(got, "### "), strings.Split(string(want), "### ")
		for i := 0; i < max(len(gotBlocks), len(wantBlocks)); i++ {
			var g, w string
			if i < len(gotBlocks) {
				g = gotBlocks[i]
			}
			if i < len(wantBlocks) {
				w = wantBlocks[i]
			}
			if g != w {
				t.Errorf("answer differs from %s:\n--- got\n%s\n--- want\n%s", golden, g, w)
			}
		}
	}
}

var (
	// Values that differ from run to run: tokens, codes, ids, times, key ids.
	maskJSON     = regexp.MustCompile(`"(access_token|refresh_token|id_token|jti|device_code|user_code|verification_uri_complete|exp|iat|nbf|auth_time|kid|n|x|y|updated_at)":("[^"]*"|\d+)`)
	maskParam    = regexp.MustCompile(`(code|authRequestID|user_code)=[^&"\s]+`)
	discoveryTag = regexp.MustCompile(`^"[0-9a-f]{24}"$`) // the discovery's, the same every run
)

func maskWire(header, v string) string {
	if header == "Etag" && !discoveryTag.MatchString(v) {
		return `"<etag>"`
	}
	v = maskJSON.ReplaceAllString(v, `"$1":"<x>"`)
	return maskParam.ReplaceAllString(v, `$1=<x>`)
}

func truncateWire(s string, n int) string {
	if len(s) > n {
		return s[:n] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// newWireProvider is the fuzz provider with a person, a device client, a
// service account and an API.
func newWireProvider(t *testing.T, with ...func(*provider.Config)) (*provider.Provider, storage.Store) {
	t.Helper()
	p, st := newFuzzProviderStore(t, with...)
	ctx := context.Background()
	now := time.Now()
	sum := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	for _, c := range []*storage.Client{
		{ID: "tv", Name: "TV", Public: true, GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}, CreatedAt: now},
		{ID: "svc", Name: "Service", SecretHash: sum("svc-secret"), GrantTypes: []string{"client_credentials"}, AllowedScopes: []string{"calendar.read"}, CreatedAt: now},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateUser(ctx, &storage.User{ID: "u1", Username: "alice", Email: "alice@example.com", Name: "Alice", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAPI(ctx, &storage.API{Audience: "https://api.example", Scopes: []string{"calendar.read"}, IntrospectionSecretHash: sum("api-secret"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutGrant(ctx, &storage.Grant{UserID: "u1", ClientID: "app", Scopes: []string{"openid", "profile", "email"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return p, st
}
