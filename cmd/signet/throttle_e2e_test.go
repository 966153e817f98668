package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// TestAccountLockout: after the free failures a correct password is answered
// exactly like a wrong one, until the lock clears by itself or an admin unlocks.
func TestAccountLockout(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	u, _ := app.authURL()
	p := b.get(u)
	var wrong page
	for range 5 {
		wrong = b.login(p, "alice", "wrong password")
	}
	locked := b.login(p, "alice", "correct horse battery")
	if locked.status != wrong.status || !strings.Contains(locked.body, "The username or password is incorrect.") {
		t.Fatalf("a locked account answers %d, a wrong password %d", locked.status, wrong.status)
	}
	// An unknown user locks the same way: the answer tells nothing.
	for range 6 {
		wrong = b.login(p, "nobody", "wrong password")
	}
	if wrong.status != http.StatusUnauthorized {
		t.Fatalf("unknown user after lock: %d", wrong.status)
	}
	// The lock clears by itself.
	ti.clock.Advance(31 * time.Second)
	if ok := b.login(p, "alice", "correct horse battery"); ok.url.Host != "127.0.0.1:9" {
		t.Fatalf("the lock did not clear: %d %s", ok.status, ok.url)
	}

	// An admin unlock clears a lock at once.
	b = newBrowser(t)
	u, _ = app.authURL()
	p = b.get(u)
	for range 6 {
		b.login(p, "alice", "wrong password")
	}
	if r := b.login(p, "alice", "correct horse battery"); r.status != http.StatusUnauthorized {
		t.Fatalf("not locked: %d", r.status)
	}
	cli := serveAdminSocket(t, ti)
	if code, out, errs := cli("user", "unlock", "alice"); code != 0 || !strings.Contains(out, "Unlocked") {
		t.Fatalf("user unlock: %d %q %q", code, out, errs)
	}
	if ok := b.login(p, "alice", "correct horse battery"); ok.url.Host != "127.0.0.1:9" {
		t.Fatalf("still locked after unlock: %d %s", ok.status, ok.url)
	}
	if code, out, _ := cli("user", "unlock", "alice"); code != 0 || !strings.Contains(out, "was not locked") {
		t.Fatalf("second unlock: %d %q", code, out)
	}
}

// TestAddressThrottle: many failures from one address (across usernames) get a
// quick 429 without a password check.
func TestAddressThrottle(t *testing.T) {
	ti := startIssuer(t, func(c *Config) { c.Throttle.AddressFailures = 8 })
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	u, _ := app.authURL()
	p := b.get(u)
	for i := range 9 {
		b.login(p, "user"+string(rune('a'+i)), "wrong password")
	}
	r := b.login(p, "alice", "correct horse battery")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("flooding address: %d %v", r.status, r.header)
	}
	ti.clock.Advance(time.Minute)
	if ok := b.login(p, "alice", "correct horse battery"); ok.url.Host != "127.0.0.1:9" {
		t.Fatalf("address lock did not clear: %d", ok.status)
	}
}

// TestLockoutHoldsUnderParallelGuesses: guesses sent all at once cannot slip past
// the lock: at most the free failures are checked before it holds, and the
// right password sent with them is refused once it does.
func TestLockoutHoldsUnderParallelGuesses(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	u, _ := app.authURL()
	p := b.get(u)
	done := make(chan page, 40)
	for range 40 {
		go func() { done <- b.login(p, "alice", "wrong password") }()
	}
	for range 40 {
		<-done
	}
	if r := b.login(p, "alice", "correct horse battery"); r.status != http.StatusUnauthorized {
		t.Fatalf("the right password after 40 parallel guesses: %d, want the lockout's 401", r.status)
	}
}

// TestTrustedProxyAddresses: behind a trusted proxy each person is throttled by
// their own address (X-Forwarded-For); from an untrusted peer the header is
// ignored, so it cannot be used to dodge the limit.
func TestTrustedProxyAddresses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		limited bool
	}{
		{"trusted proxy: per person", []string{"127.0.0.0/8"}, false},
		{"no trusted proxy: header ignored", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ti := startIssuer(t, func(c *Config) { c.Throttle.AddressFailures = 4; c.TrustedProxies = tc.proxies })
			app := ti.addClient(admin.AddClientInput{ID: "app"})
			b := newBrowser(t)
			u, _ := app.authURL()
			p := b.get(u)
			post := func(xff, user, pw string) page {
				form := url.Values{"username": {user}, "password": {pw}}
				for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
					form.Set(m[1], html.UnescapeString(m[2]))
				}
				req, _ := http.NewRequest(http.MethodPost, ti.URL+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", xff)
				return b.do(req)
			}
			// Five people behind the proxy each mistype once...
			for i := range 5 {
				post("198.51.100."+string(rune('1'+i)), "user"+string(rune('a'+i)), "wrong")
			}
			// ...and a sixth signs in: limited only if they all count as one address.
			r := post("198.51.100.9", "alice", "correct horse battery")
			if limited := r.status == http.StatusTooManyRequests; limited != tc.limited {
				t.Fatalf("sixth person: %d, limited = %v, want %v", r.status, limited, tc.limited)
			}
		})
	}
}
