package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/password"
)

// ThrottleConfig sets the brute-force limits. After Free failures a key is locked
// for Base, doubling with every further failure up to Max; the lock clears by
// itself, and a success forgets the key.
type ThrottleConfig struct {
	// AccountFree is how many wrong passwords an account takes before it backs off.
	AccountFree int
	// AddressFree is the same per client address; sized for many people behind
	// one NAT, so one person's typos never lock out their colleagues.
	AddressFree int
	Base        time.Duration
	Max         time.Duration
	// MaxEntries bounds the memory: the oldest idle entries go first.
	MaxEntries int
}

// DefaultThrottle is used for zero fields.
var DefaultThrottle = ThrottleConfig{AccountFree: 5, AddressFree: 100, Base: 30 * time.Second, Max: 15 * time.Minute, MaxEntries: 100_000}

// throttle counts failures per key, in bounded memory.
type throttle struct {
	mu      sync.Mutex
	entries map[string]*throttleEntry
	free    int
	base    time.Duration
	max     time.Duration
	cap     int
}

type throttleEntry struct {
	failures int
	until    time.Time
	last     time.Time
}

func newThrottle(free int, base, maxDelay time.Duration, capacity int) *throttle {
	return &throttle{entries: map[string]*throttleEntry{}, free: free, base: base, max: maxDelay, cap: capacity}
}

// locked reports whether key is locked at now, and until when.
func (t *throttle) locked(key string, now time.Time) (bool, time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil || !now.Before(e.until) {
		return false, time.Time{}
	}
	return true, e.until
}

// fail records a failure and reports whether key is now locked.
func (t *throttle) fail(key string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		if len(t.entries) >= t.cap {
			t.evict(now)
		}
		e = &throttleEntry{}
		t.entries[key] = e
	} else if !e.until.IsZero() && now.Sub(e.last) > t.max+t.base {
		// Long quiet after a lock: start over.
		e.failures, e.until = 0, time.Time{}
	}
	e.failures++
	e.last = now
	if over := e.failures - t.free; over >= 0 {
		d := t.base << min(over, 30)
		if d <= 0 || d > t.max {
			d = t.max
		}
		e.until = now.Add(d)
		return true
	}
	return false
}

// forget drops key (after a success, or an admin unlock).
func (t *throttle) forget(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.entries[key]
	delete(t.entries, key)
	return ok
}

// evict makes room: entries idle long enough to have no lock left go first; if
// that is not enough (a flood of addresses), an eighth of the map goes.
func (t *throttle) evict(now time.Time) {
	for k, e := range t.entries {
		if now.After(e.until) && now.Sub(e.last) > t.max {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.cap {
		return
	}
	n := len(t.entries) / 8
	for k := range t.entries {
		if n <= 0 {
			break
		}
		delete(t.entries, k)
		n--
	}
}

// accountKey normalises a username for throttling; unknown usernames are
// throttled like known ones, so locking reveals nothing about existence.
func accountKey(username string) string {
	if len(username) > maxUsernameLen {
		username = username[:maxUsernameLen]
	}
	return strings.ToLower(strings.TrimSpace(username))
}

// clientAddress is the client's IP address: the peer's, or, when the peer is a
// trusted proxy (config trusted_proxies), the nearest address in
// X-Forwarded-For that is not one. Without trusted proxies forwarding headers
// are ignored, since anyone can send them.
func (h *Handler) clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(h.cfg.TrustedProxies) == 0 || !h.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0 && i >= len(hops)-32; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			break
		}
		if !h.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (h *Handler) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range h.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// busy answers a sign-in that found no password-hashing slot: a quick 503.
func (h *Handler) busy(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "1")
	h.render(w, r, http.StatusServiceUnavailable, "error", "Busy", errorData{Message: "Signet is busy right now. Please try again in a moment."})
}

// hashWait bounds how long a sign-in waits for a password-hashing slot.
const hashWait = 60 * time.Second

// Unlock clears the sign-in lockout of username; it reports whether one was set.
func (h *Handler) Unlock(username string) bool {
	return h.accounts.forget(accountKey(username))
}

// addressLocked answers a locked client address at once (no password hashing
// for a flood) and reports whether it did.
func (h *Handler) addressLocked(w http.ResponseWriter, r *http.Request) bool {
	locked, until := h.addresses.locked(h.clientAddress(r), h.now())
	if !locked {
		return false
	}
	secs := int(until.Sub(h.now())/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.log.WarnContext(r.Context(), "sign-in refused: address locked", "event", "address_locked", "address", h.clientAddress(r))
	h.render(w, r, http.StatusTooManyRequests, "error", "Too many attempts", errorData{
		Message: "There were too many failed sign-ins from your network. Wait a few minutes, then try again.",
	})
	return true
}

// checkPassword is authenticate behind the brute-force limits: a locked account
// costs the same hash and gets the same answer as a wrong password; failures count
// against the account and the client address.
func (h *Handler) checkPassword(r *http.Request, username, pw string) (*storage.User, error) {
	// Under a flood, a sign-in that cannot get a hashing slot soon gets a quick
	// "busy" page rather than joining a queue that grows.
	ctx, cancel := context.WithTimeout(r.Context(), hashWait)
	defer cancel()
	acct, addr := accountKey(username), h.clientAddress(r)
	// At most a few checks of one account run at once, so guesses sent in
	// parallel cannot all pass the lock check before any failure is counted
	// (the bound on guesses before a lock is twice the free failures).
	release, err := h.gate.enter(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", password.ErrBusy, err)
	}
	defer release()
	now := h.now()
	if locked, _ := h.accounts.locked(acct, now); locked {
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		h.log.InfoContext(ctx, "sign-in refused: account locked", "event", "account_locked", "address", addr)
		return nil, errBadCredentials
	}
	u, err := h.authenticate(ctx, username, pw)
	switch {
	case errors.Is(err, errBadCredentials):
		if h.accounts.fail(acct, now) {
			h.log.WarnContext(ctx, "account locked after repeated failures", "event", "lockout", "address", addr)
		}
		if h.addresses.fail(addr, now) {
			h.log.WarnContext(ctx, "address locked after repeated failures", "event", "address_lockout", "address", addr)
		}
	case err == nil:
		h.accounts.forget(acct)
	}
	return u, err
}

// gate bounds how many checks of one key run at once; entries live only while
// in use, so its memory is bounded by the requests in flight.
type gate struct {
	mu      sync.Mutex
	entries map[string]*gateEntry
	width   int
}

type gateEntry struct {
	slots chan struct{}
	refs  int
}

func newGate(width int) *gate { return &gate{entries: map[string]*gateEntry{}, width: width} }

// enter waits for one of key's slots (or ctx) and returns its release.
func (g *gate) enter(ctx context.Context, key string) (func(), error) {
	g.mu.Lock()
	e := g.entries[key]
	if e == nil {
		e = &gateEntry{slots: make(chan struct{}, g.width)}
		g.entries[key] = e
	}
	e.refs++
	g.mu.Unlock()
	leave := func() {
		g.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(g.entries, key)
		}
		g.mu.Unlock()
	}
	select {
	case e.slots <- struct{}{}:
		return func() { <-e.slots; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}
