package main

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// TestAccountLockout: after the free failures a correct password is answered
// exactly like a wrong one, until the lock clears by itself or an admin unlocks.
func TestAccountLockout(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	p := b.Get(u)
	var wrong signettest.Page
	for range 5 {
		wrong = b.Login(p, "alice", "wrong password")
	}
	locked := b.Login(p, "alice", "correct horse battery")
	if locked.Status != wrong.Status || !strings.Contains(locked.Body, "The username or password is incorrect.") {
		t.Fatalf("a locked account answers %d, a wrong password %d", locked.Status, wrong.Status)
	}
	// An unknown user locks the same way: the answer tells nothing.
	for range 6 {
		wrong = b.Login(p, "nobody", "wrong password")
	}
	if wrong.Status != http.StatusUnauthorized {
		t.Fatalf("unknown user after lock: %d", wrong.Status)
	}
	// The lock clears by itself.
	ti.Clock.Advance(31 * time.Second)
	if ok := b.Login(p, "alice", "correct horse battery"); ok.URL.Host != "127.0.0.1:9" {
		t.Fatalf("the lock did not clear: %d %s", ok.Status, ok.URL)
	}

	// An admin unlock clears a lock at once.
	b = signettest.NewBrowser(t)
	u, _ = app.AuthURL()
	p = b.Get(u)
	for range 6 {
		b.Login(p, "alice", "wrong password")
	}
	if r := b.Login(p, "alice", "correct horse battery"); r.Status != http.StatusUnauthorized {
		t.Fatalf("not locked: %d", r.Status)
	}
	cli := serveAdminSocket(t, ti)
	if code, out, errs := cli("user", "unlock", "alice"); code != 0 || !strings.Contains(out, "Unlocked") {
		t.Fatalf("user unlock: %d %q %q", code, out, errs)
	}
	if ok := b.Login(p, "alice", "correct horse battery"); ok.URL.Host != "127.0.0.1:9" {
		t.Fatalf("still locked after unlock: %d %s", ok.Status, ok.URL)
	}
	if code, out, _ := cli("user", "unlock", "alice"); code != 0 || !strings.Contains(out, "was not locked") {
		t.Fatalf("second unlock: %d %q", code, out)
	}
}

// TestAddressThrottle: many failures from one address (across usernames) get a
// quick 429 without a password check.
func TestAddressThrottle(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t, func(c *Config) { c.Throttle.AddressFailures = 8 })
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	p := b.Get(u)
	for i := range 9 {
		b.Login(p, "user"+string(rune('a'+i)), "wrong password")
	}
	r := b.Login(p, "alice", "correct horse battery")
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("flooding address: %d %v", r.Status, r.Header)
	}
	ti.Clock.Advance(time.Minute)
	if ok := b.Login(p, "alice", "correct horse battery"); ok.URL.Host != "127.0.0.1:9" {
		t.Fatalf("address lock did not clear: %d", ok.Status)
	}
}

// TestLockoutHoldsUnderParallelGuesses: guesses sent all at once cannot slip past
// the lock: at most the free failures are checked before it holds, and the
// right password sent with them is refused once it does.
func TestLockoutHoldsUnderParallelGuesses(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	p := b.Get(u)
	done := make(chan signettest.Page, 40)
	for range 40 {
		go func() { done <- b.Login(p, "alice", "wrong password") }()
	}
	for range 40 {
		<-done
	}
	if r := b.Login(p, "alice", "correct horse battery"); r.Status != http.StatusUnauthorized {
		t.Fatalf("the right password after 40 parallel guesses: %d, want the lockout's 401", r.Status)
	}
}

// TestTrustedProxyAddresses: behind a trusted proxy each person is throttled by
// their own address (X-Forwarded-For); from an untrusted peer the header is
// ignored, so it cannot be used to dodge the limit.
func TestTrustedProxyAddresses(t *testing.T) {
	t.Parallel()
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
			b := signettest.NewBrowser(t)
			u, _ := app.AuthURL()
			p := b.Get(u)
			post := func(xff, user, pw string) signettest.Page {
				form := url.Values{"username": {user}, "password": {pw}}
				for _, m := range signettest.InputRE.FindAllStringSubmatch(p.Body, -1) {
					form.Set(m[1], html.UnescapeString(m[2]))
				}
				req, _ := http.NewRequest(http.MethodPost, ti.URL+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Forwarded-For", xff)
				return b.Do(req)
			}
			// Five people behind the proxy each mistype once...
			for i := range 5 {
				post("198.51.100."+string(rune('1'+i)), "user"+string(rune('a'+i)), "wrong")
			}
			// ...and a sixth signs in: limited only if they all count as one address.
			r := post("198.51.100.9", "alice", "correct horse battery")
			if limited := r.Status == http.StatusTooManyRequests; limited != tc.limited {
				t.Fatalf("sixth person: %d, limited = %v, want %v", r.Status, limited, tc.limited)
			}
		})
	}
}
