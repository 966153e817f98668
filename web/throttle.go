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
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/throttle"
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
	h.log.InfoContext(r.Context(), "sign-in refused: busy", "event", "login_busy", "address", h.clientAddress(r))
	w.Header().Set("Retry-After", "1")
	h.render(w, r, http.StatusServiceUnavailable, "error", "Busy", templates.Message{Message: "Signet is busy right now. Please try again in a moment."})
}

// hashWait bounds how long a sign-in waits for a password-hashing slot.
const hashWait = 60 * time.Second

// addressLocked answers a locked client address at once (no password hashing
// for a flood) and reports whether it did.
func (h *Handler) addressLocked(w http.ResponseWriter, r *http.Request) bool {
	locked, until := h.addressLock(r.Context(), h.clientAddress(r))
	if !locked {
		return false
	}
	secs := int(until.Sub(h.now())/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.log.WarnContext(r.Context(), "sign-in refused: address locked", "event", "address_locked", "address", h.clientAddress(r))
	h.render(w, r, http.StatusTooManyRequests, "error", "Too many attempts", templates.Message{
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
	// One account, one budget of tries, whether it is named by username or by
	// email: an email address of a known person counts against their username.
	acct, addr := throttle.AccountKey(username), h.clientAddress(r)
	// The person is found as the sign-in finds them (lookupUser: a username
	// first), so failures count against the account they are checked on.
	if strings.Contains(username, "@") {
		if u, err := h.lookupUser(r.Context(), username); err == nil {
			acct = throttle.AccountKey(u.Username)
		}
	}
	// Only a few checks of one account run at once and a bounded number wait,
	// so a flood on one username is answered "busy" at once and never holds
	// every hashing slot.
	release, err := h.gate.enter(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", password.ErrBusy, err)
	}
	defer release()
	// The try is charged in the store every replica shares, so that checks
	// at once on any number of replicas try no more than the account may.
	key := throttle.AccountStoreKey(acct)
	res, err := throttle.Reserve(ctx, h.store, key, h.accounts, h.now().UTC())
	if err != nil {
		return nil, err // storage cannot say: nothing is checked or counted
	}
	switch res {
	case throttle.LockedOut:
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		h.log.InfoContext(ctx, "sign-in refused: account locked", "event", "account_locked", "address", addr)
		return nil, errAccountLocked
	case throttle.TriesInUse:
		// Not locked, but every try left is being checked: the outcome of
		// those decides whether this one may run. "Busy, retry" is true and
		// turns away no one who has the password.
		return nil, fmt.Errorf("%w: every remaining try of this account is being checked", password.ErrBusy)
	}
	// Settled whatever happens (a panic included), or the try stays charged
	// and the account could lock for good.
	outcome := throttle.CheckRefunded
	defer func() {
		locked, err := throttle.Settle(context.WithoutCancel(ctx), h.store, key, h.accounts, h.now().UTC(), outcome)
		if err != nil {
			// The reservation lapses by itself (throttle.ReservationLapse).
			h.log.WarnContext(ctx, "settle an account check", "error", err)
		}
		if locked {
			h.log.WarnContext(ctx, "account locked after repeated failures", "event", "lockout", "address", addr)
		}
	}()
	u, err := h.authenticate(ctx, username, pw)
	switch {
	case errors.Is(err, errBadCredentials):
		outcome = throttle.CheckFailed
		if h.addressFailed(ctx, addr) {
			h.log.WarnContext(ctx, "address locked after repeated failures", "event", "address_lockout", "address", addr)
		}
	case err == nil:
		outcome = throttle.CheckPassed
	}
	return u, err
}

// The account gate: a few checks of one account at a time, so that one
// username never holds every hashing slot; a bounded number more wait, as long
// as for a hashing slot (people sharing an account, a load test signing in as
// one user); the rest are answered busy at once, so a flood on one username
// cannot build a queue.
const (
	gateWidth   = 4
	gateWaiters = 256
	gateWait    = hashWait
)

// errAccountBusy refuses a check that found its account's gate full.
var errAccountBusy = errors.New("too many sign-ins of this account at once")

// gate bounds the checks of one key: width run at once, at most waiters more wait
// (each at most wait), and the rest are refused at once. Entries live only while
// in use, so its memory is bounded by the requests in flight.
type gate struct {
	mu      sync.Mutex
	entries map[string]*gateEntry
	width   int
	waiters int
	wait    time.Duration
}

type gateEntry struct {
	slots   chan struct{}
	waiting int
	refs    int
}

func newGate(width int) *gate {
	return &gate{entries: map[string]*gateEntry{}, width: width, waiters: gateWaiters, wait: gateWait}
}

// enter takes one of key's slots and returns its release. When all are taken it
// waits, unless enough others already do (errAccountBusy), for at most g.wait.
func (g *gate) enter(ctx context.Context, key string) (func(), error) {
	g.mu.Lock()
	e := g.entries[key]
	if e == nil {
		e = &gateEntry{slots: make(chan struct{}, g.width)}
		g.entries[key] = e
	}
	leave := func() {
		g.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(g.entries, key)
		}
		g.mu.Unlock()
	}
	release := func() { <-e.slots; leave() }
	select {
	case e.slots <- struct{}{}:
		e.refs++
		g.mu.Unlock()
		return release, nil
	default:
	}
	if e.waiting >= g.waiters {
		// Every slot is taken, so e has refs and stays in the map.
		g.mu.Unlock()
		return nil, errAccountBusy
	}
	e.waiting++
	e.refs++
	g.mu.Unlock()
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	var err error
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errAccountBusy
	}
	g.mu.Lock()
	e.waiting--
	g.mu.Unlock()
	if err != nil {
		leave()
		return nil, err
	}
	return release, nil
}

// addressLock reports whether addr is locked, and until when: by the failures
// this replica counted, or by those every replica counted in the store.
func (h *Handler) addressLock(ctx context.Context, addr string) (bool, time.Time) {
	now := h.now()
	if locked, until := h.addresses.Locked(addr, now); locked {
		return true, until
	}
	until, err := throttle.LockedUntil(ctx, h.store, throttle.AddressStoreKey(addr), now)
	if err != nil {
		// The sign-in itself needs the store; it will say so.
		h.log.WarnContext(ctx, "read the address throttle", "address", addr, "error", err)
		return false, time.Time{}
	}
	return !until.IsZero(), until
}

// addressFailed counts a failure of addr, in memory and in the store that
// every replica shares, and reports whether addr is now locked.
func (h *Handler) addressFailed(ctx context.Context, addr string) bool {
	now := h.now().UTC()
	locked := h.addresses.Fail(addr, now)
	stored, err := throttle.Fail(context.WithoutCancel(ctx), h.store, throttle.AddressStoreKey(addr), h.addresses.Limits, now)
	if err != nil {
		h.log.WarnContext(ctx, "count an address failure", "address", addr, "error", err)
	}
	return locked || stored
}
