package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/web/credentials/throttle"
)

// TestGateBoundsWaiters: past its width, a gate lets only a few wait, only
// briefly, and turns the rest away at once.
func TestGateBoundsWaiters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newGate(1)
	g.waiters, g.wait = 1, time.Hour
	release, err := g.enter(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if rel, err := g.enter(ctx, "bob"); err != nil {
		t.Fatalf("another account is held back: %v", err)
	} else {
		rel()
	}
	// One waits (for an hour, unless released)...
	waited := make(chan error)
	go func() {
		rel, err := g.enter(ctx, "alice")
		if err == nil {
			rel()
		}
		waited <- err
	}()
	// ...so, once it does, the next is turned away at once.
	for {
		g.mu.Lock()
		n := g.entries["alice"].waiting
		g.mu.Unlock()
		if n == 1 {
			break
		}
		runtime.Gosched()
	}
	if _, err := g.enter(ctx, "alice"); !errors.Is(err, errAccountBusy) {
		t.Fatalf("past the waiters: %v, want errAccountBusy", err)
	}
	release()
	if err := <-waited; err != nil {
		t.Fatalf("the waiter after the release: %v", err)
	}
	// A wait ends after g.wait, or with the request.
	release, _ = g.enter(ctx, "alice")
	g.wait = time.Millisecond
	if _, err := g.enter(ctx, "alice"); !errors.Is(err, errAccountBusy) {
		t.Fatalf("past the wait: %v, want errAccountBusy", err)
	}
	g.wait = time.Hour
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.enter(cctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled while waiting: %v", err)
	}
	release()
	if len(g.entries) != 0 {
		t.Fatalf("%d gate entries left", len(g.entries))
	}
}

func TestClientAddress(t *testing.T) {
	t.Parallel()
	h := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.5:1234", "", "203.0.113.5"},
		{"203.0.113.5:1234", "1.2.3.4", "203.0.113.5"},              // untrusted peer: header ignored
		{"10.0.0.2:1234", "198.51.100.7", "198.51.100.7"},           // one trusted proxy
		{"10.0.0.2:1234", "6.6.6.6, 198.51.100.7", "198.51.100.7"},  // a spoofed hop on the left is skipped
		{"10.0.0.2:1234", "198.51.100.7, 10.0.0.9", "198.51.100.7"}, // two proxies
		{"10.0.0.2:1234", "garbage, 198.51.100.7", "198.51.100.7"},
		{"10.0.0.2:1234", "garbage", "10.0.0.2"},
		{"[::1]:80", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := h.clientAddress(r); got != tc.want {
			t.Errorf("remote %s, X-Forwarded-For %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

// TestAccountLockSharedAndUnlocked: wrong passwords counted by one replica
// lock the account on another that shares the store (nothing is kept in
// memory), and an unlock in the store (the CLI's, from anywhere) lets the
// right password in on both at once.
func TestAccountLockSharedAndUnlocked(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Throttle.AccountFree = 3 })
	other := e.replica(t)
	for i := range 3 {
		if w := e.login("alice", "a wrong password", testAddr(i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, w.Code)
		}
	}
	for name, mux := range map[string]*http.ServeMux{"this replica": e.mux, "another replica": other} {
		if w := e.loginVia(mux, "alice", testPassword, testAddr(10)); w.Code != http.StatusUnauthorized {
			t.Fatalf("the right password on a locked account (%s): %d", name, w.Code)
		}
	}
	key := throttle.AccountStoreKey("Alice")
	if was, err := throttle.Unlock(context.Background(), e.store, key, e.clock.Now()); err != nil || !was {
		t.Fatalf("unlock: %v %v", was, err)
	}
	if w := e.loginVia(other, "alice", testPassword, testAddr(11)); w.Code != http.StatusSeeOther {
		t.Fatalf("the right password after the unlock: %d\n%s", w.Code, w.Body)
	}
}

// TestParallelGuessesAcrossReplicas: wrong passwords sent all at once to two
// replicas get at most the free failures checked in all.
func TestParallelGuessesAcrossReplicas(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Throttle.AccountFree = 5 })
	other := e.replica(t)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		mux := e.mux
		if i%2 == 1 {
			mux = other
		}
		wg.Go(func() { e.loginVia(mux, "alice", "a wrong password", testAddr(i)) })
	}
	wg.Wait()
	if got := e.store.lookups.Load(); got > 5 {
		t.Errorf("%d guesses at once on two replicas made %d password checks, want at most 5", n, got)
	}
}

// TestAddressLockSharedThroughStore: the failures one replica counts for a
// client address lock it on a replica that counted none (its memory empty),
// through the store they share; other addresses are not affected.
func TestAddressLockSharedThroughStore(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.Throttle.AddressFree = 3 })
	const addr = "192.0.2.7"
	for i := range 3 {
		if w := e.login(fmt.Sprintf("nobody%d", i), "a wrong password", addr); w.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, w.Code)
		}
	}
	// Another replica: the same store, nothing in memory.
	other := e.replica(t)
	w := e.loginVia(other, "alice", testPassword, addr)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("the right password from an address locked on another replica: %d (Retry-After %q), want 429", w.Code, w.Header().Get("Retry-After"))
	}
	if w := e.login("nobody", "a wrong password", "192.0.2.8"); w.Code != http.StatusUnauthorized {
		t.Fatalf("another address: %d, want 401 (checked, not locked)", w.Code)
	}
	// The lock ends by itself.
	e.clock.Advance(DefaultThrottle.Max + time.Second)
	if w := e.loginVia(other, "alice", testPassword, addr); w.Code != http.StatusSeeOther {
		t.Fatalf("after the lock: %d", w.Code)
	}
}
