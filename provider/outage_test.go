package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/provider"
	"github.com/signet-idp/signet/storage"
)

// TestNegativeAnswersWaitForStorage: while storage does not answer a ping,
// userinfo and introspection refuse a token only with 503
// temporarily_unavailable (never "invalid token" or {"active": false}, which a
// resource server would act on), and revocation answers nothing but 503; a
// positive answer needs no ping.
func TestNegativeAnswersWaitForStorage(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	p, st := newWireProvider(t, func(c *provider.Config) {
		c.Ping = func(context.Context) error {
			if down.Load() {
				return errors.New("storage: connection refused")
			}
			return nil
		}
	})
	ctx := context.Background()
	now := time.Now().UTC()
	scopes := []string{"openid", "profile"}
	if err := st.CreateAuthRequest(ctx, &storage.AuthRequest{
		ID: "ar-outage", ClientID: "app", RedirectURI: "https://app.example/cb", Scopes: scopes, GrantedScopes: scopes,
		ResponseType: "code", MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
		Done: true, UserID: "u1", AuthTime: now, AMR: []string{"pwd"},
	}); err != nil {
		t.Fatal(err)
	}
	do := func(method, target string, h http.Header, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, fuzzIssuer+target, strings.NewReader(body))
		for k, v := range h {
			r.Header[k] = v
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, r)
		return rec
	}
	rec := do("GET", provider.PathCallback+"?id=ar-outage", nil, "")
	loc, _ := url.Parse(rec.Header().Get("Location"))
	appBasic := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("app:app-secret"))}}
	rec = do("POST", provider.PathToken, appBasic, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {"https://app.example/cb"}}.Encode())
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("code exchange: %d %s", rec.Code, rec.Body)
	}
	bearer := http.Header{"Authorization": {"Bearer " + tok.AccessToken}}

	down.Store(true)
	for _, tc := range []struct {
		name         string
		method, path string
		header       http.Header
		body         string
		want         int
	}{
		{"userinfo, live token", "GET", provider.PathUserinfo, bearer, "", http.StatusOK},
		{"userinfo, unknown token", "GET", provider.PathUserinfo, http.Header{"Authorization": {"Bearer nope"}}, "", http.StatusServiceUnavailable},
		{"userinfo, token in the query", "GET", provider.PathUserinfo + "?access_token=x", nil, "", http.StatusServiceUnavailable},
		{"introspection, live token", "POST", provider.PathIntrospect, appBasic, "token=" + tok.AccessToken, http.StatusOK},
		{"introspection, unknown token", "POST", provider.PathIntrospect, appBasic, "token=nope", http.StatusServiceUnavailable},
		{"introspection, wrong secret", "POST", provider.PathIntrospect, http.Header{"Authorization": {"Basic eDp5"}}, "token=nope", http.StatusServiceUnavailable},
		{"revocation, unknown token", "POST", provider.PathRevoke, appBasic, "token=nope", http.StatusServiceUnavailable},
		{"revocation, no client", "POST", provider.PathRevoke, nil, "token=nope", http.StatusServiceUnavailable},
	} {
		rec := do(tc.method, tc.path, tc.header, tc.body)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.want)
			continue
		}
		if tc.want == http.StatusServiceUnavailable {
			if rec.Header().Get("Retry-After") == "" || rec.Header().Get("Cache-Control") != "no-store" ||
				rec.Header().Get("WWW-Authenticate") != "" || !strings.Contains(rec.Body.String(), `"temporarily_unavailable"`) {
				t.Errorf("%s: headers %v body %s, want Retry-After, no-store, no challenge, temporarily_unavailable", tc.name, rec.Header(), rec.Body)
			}
		}
	}
	// The token is still good: the outage revoked nothing.
	down.Store(false)
	if rec := do("GET", provider.PathUserinfo, bearer, ""); rec.Code != http.StatusOK {
		t.Errorf("userinfo after the outage: %d %s", rec.Code, rec.Body)
	}
}
