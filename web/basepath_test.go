package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBasePathCookiesAndLinks: under an issuer's path the pages link, post and
// redirect under it and scope their cookies to it (__Secure-, since __Host-
// demands path /); without one they are as they always were.
func TestBasePathCookiesAndLinks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer, base, cookiePrefix, cookiePath string
	}{
		{"https://signet.test", "", "__Host-", "/"},
		{"https://signet.test/auth", "/auth", "__Secure-", "/auth"},
		{"http://127.0.0.1:5556/id/p", "/id/p", "", "/id/p"},
	} {
		t.Run(tc.issuer, func(t *testing.T) {
			e := newTestEnv(t, func(c *Config) { c.Issuer, c.BasePath = tc.issuer, tc.base })
			w := httptest.NewRecorder()
			e.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/login?authRequestID="+e.ar.ID, nil))
			if w.Code != http.StatusOK {
				t.Fatalf("login page: %d", w.Code)
			}
			body := w.Body.String()
			for _, want := range []string{`action="` + tc.base + `/login"`, `href="` + tc.base + `/static/signet.css"`} {
				if !strings.Contains(body, want) {
					t.Errorf("login page lacks %s", want)
				}
			}
			cookies := w.Result().Cookies()
			if len(cookies) != 1 || cookies[0].Name != tc.cookiePrefix+"signet_pending" || cookies[0].Path != tc.cookiePath ||
				cookies[0].Secure != strings.HasPrefix(tc.issuer, "https:") {
				t.Errorf("cookies %v, want %ssignet_pending with path %s", cookies, tc.cookiePrefix, tc.cookiePath)
			}

			w = httptest.NewRecorder()
			e.mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, PathAccount, nil))
			if loc := w.Header().Get("Location"); w.Code != http.StatusSeeOther || loc != tc.base+PathAccountLogin+"?next=%2Faccount" {
				t.Errorf("account without a session: %d to %q", w.Code, loc)
			}
		})
	}
}
