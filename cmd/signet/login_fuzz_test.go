package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzLoginSessionCookie sends the login page arbitrary Cookie headers, on the real
// wiring, for a fresh authorization request each time. Whatever the header: no
// panic, no 5xx, the page's security headers, and the sign-in completes without a
// password only when the header carries alice's real session cookie (as the
// browser's cookie parser reads it); anything else gets the login form.
func FuzzLoginSessionCookie(f *testing.F) {
	fi := newFuzzIssuer(f)
	name := fi.cookieName
	for _, s := range []string{
		"",
		name + "=" + "{session}",
		name + "=" + "{session}; other=1",
		"other=1; " + name + "=" + "{session}",
		name + "=\"{session}\"",
		name + "= {session}",
		name + "={session}x",
		name + "={session}; " + name + "=forged",
		name + "=forged; " + name + "={session}",
		strings.ToUpper(name) + "={session}",
		name + "=",
		name + "=" + strings.Repeat("A", 43),
		name + "=" + strings.Repeat("A", 129),
		name + "=" + strings.Repeat("A", 10000),
		name + "=%00%ff",
		name + "=\x00\x01\xff",
		name + "=../../etc/passwd",
		name + "=;;;;",
		";;; =; ==; " + name,
		"__Host-signet_session={session}",
		"signet_pending=" + strings.Repeat("p", 43) + "; " + name + "={session}",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, cookie string, promptNone bool) {
		if len(cookie) > 64<<10 {
			return
		}
		cookie = strings.ReplaceAll(cookie, "{session}", fi.session)
		q := authorizeQuery("app", fuzzAppRedirect, "openid")
		if promptNone {
			q.Set("prompt", "none")
		}
		loc := fi.startAuth(t, q)
		u, _ := url.Parse(loc)
		r := fuzzRequest(http.MethodGet, u.Path, u.RawQuery, "")
		r.Header.Set("Cookie", cookie)
		rec := fi.serve(r)

		if rec.Code >= 500 {
			t.Fatalf("cookie %q: %d %s", cookie, rec.Code, rec.Body)
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
			if rec.Header().Get(h) == "" {
				t.Errorf("cookie %q: no %s", cookie, h)
			}
		}
		// Which session a browser's cookie parser finds in the header.
		parsed := &http.Request{Header: http.Header{"Cookie": {cookie}}}
		c, err := parsed.Cookie(name)
		real := err == nil && c.Value == fi.session

		next := rec.Header().Get("Location")
		completed := rec.Code == http.StatusSeeOther && strings.HasPrefix(next, "/authorize/callback?")
		switch {
		case completed && !real:
			t.Fatalf("cookie %q completed a sign-in without alice's session cookie", cookie)
		case real && !completed:
			t.Fatalf("alice's session cookie (header %q) did not complete the sign-in: %d %q %s", cookie, rec.Code, next, rec.Body)
		case completed:
			return
		case promptNone:
			// No session: login_required, back at the registered redirect URI.
			if rec.Code != http.StatusFound || !strings.HasPrefix(next, fuzzAppRedirect+"?") || !strings.Contains(next, "error=login_required") {
				t.Fatalf("cookie %q with prompt=none: %d %q", cookie, rec.Code, next)
			}
		default:
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `name="password"`) {
				t.Fatalf("cookie %q: want the login form, got %d %q %s", cookie, rec.Code, next, rec.Body)
			}
		}
	})
}
