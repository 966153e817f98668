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
	// pending counts the checks reserved and not yet settled.
	pending int
	until   time.Time
	last    time.Time
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
	return t.failed(t.entry(key, now), now)
}

// entry returns key's entry, made if need be; a long quiet after a lock starts
// it over. t.mu is held.
func (t *throttle) entry(key string, now time.Time) *throttleEntry {
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
	return e
}

// failed counts a failure on e and reports whether it is now locked. t.mu is held.
func (t *throttle) failed(e *throttleEntry, now time.Time) bool {
	e.failures++
	e.last = now
	if d := t.lockFor(e.failures); d > 0 {
		e.until = now.Add(d)
		return true
	}
	return false
}

// Outcomes of a reserved check (settle).
const (
	checkRefunded = iota // the check did not run (busy, cancelled): the try is given back
	checkFailed
	checkPassed
)

// Answers of reserve.
const (
	reserved   = iota // the check may run; settle must follow
	lockedOut         // key is locked
	triesInUse        // key's remaining tries are all being checked right now
)

// reserve charges a check of key before it runs, so that checks running at once
// cannot together try more than key may: its free failures before the first lock,
// one after each lock.
func (t *throttle) reserve(key string, now time.Time) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil && now.Before(e.until) {
		return lockedOut
	}
	e := t.entry(key, now)
	tries := 1
	if e.failures < t.free {
		tries = t.free - e.failures
	}
	if e.pending >= tries {
		return triesInUse
	}
	e.pending++
	e.last = now
	return reserved
}

// settle ends a check reserved for key: a failure counts (it reports whether key
// is now locked), a pass forgets the failures, a refund gives the try back.
func (t *throttle) settle(key string, now time.Time, outcome int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Entries with checks in flight are never evicted or dropped, so e is the
	// one reserve charged.
	e := t.entry(key, now)
	e.pending = max(e.pending-1, 0)
	locked := false
	switch outcome {
	case checkFailed:
		locked = t.failed(e, now)
	case checkPassed:
		e.failures, e.until = 0, time.Time{}
	}
	if e.failures == 0 && e.pending == 0 {
		delete(t.entries, key)
	}
	return locked
}

// lastSeen is when key last had a failure or a check counted (zero if none).
func (t *throttle) lastSeen(key string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.entries[key]; e != nil {
		return e.last
	}
	return time.Time{}
}

// forget clears key's failures and lock (after an admin unlock) and reports
// whether it had any.
func (t *throttle) forget(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.entries[key]
	if e == nil {
		return false
	}
	had := e.failures > 0
	e.failures, e.until = 0, time.Time{}
	if e.pending == 0 {
		delete(t.entries, key)
	}
	return had
}

// evict makes room: entries idle long enough to have no lock left go first; if
// that is not enough (a flood of addresses), an eighth of the map goes. t.mu is
// held.
func (t *throttle) evict(now time.Time) {
	// Entries with checks in flight stay: their settle must find them.
	for k, e := range t.entries {
		if e.pending == 0 && now.After(e.until) && now.Sub(e.last) > t.max {
			delete(t.entries, k)
		}
	}
	if len(t.entries) < t.cap {
		return
	}
	n := len(t.entries) / 8
	for k, e := range t.entries {
		if n <= 0 {
			break
		}
		if e.pending == 0 {
			delete(t.entries, k)
			n--
		}
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
	h.log.InfoContext(r.Context(), "sign-in refused: busy", "event", "login_busy", "address", h.clientAddress(r))
	w.Header().Set("Retry-After", "1")
	h.render(w, r, http.StatusServiceUnavailable, "error", "Busy", templates.Message{Message: "Signet is busy right now. Please try again in a moment."})
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
	acct, addr := accountKey(username), h.clientAddress(r)
	// The person is found as the sign-in finds them (lookupUser: a username
	// first), so failures count against the account they are checked on.
	if strings.Contains(username, "@") {
		if u, err := h.lookupUser(r.Context(), username); err == nil {
			acct = accountKey(u.Username)
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
	res := h.accounts.reserve(acct, h.now())
	if res == lockedOut && h.clearedElsewhere(ctx, username, acct) {
		res = h.accounts.reserve(acct, h.now())
	}
	switch res {
	case lockedOut:
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		h.log.InfoContext(ctx, "sign-in refused: account locked", "event", "account_locked", "address", addr)
		return nil, errAccountLocked
	case triesInUse:
		// Not locked, but every try left is being checked: the outcome of
		// those decides whether this one may run. "Busy, retry" is true and
		// turns away no one who has the password.
		return nil, fmt.Errorf("%w: every remaining try of this account is being checked", password.ErrBusy)
	}
	// Settled whatever happens (a panic included), or the try stays charged
	// and the account could lock for good.
	outcome := checkRefunded
	defer func() {
		if h.accounts.settle(acct, h.now(), outcome) {
			h.log.WarnContext(ctx, "account locked after repeated failures", "event", "lockout", "address", addr)
		}
	}()
	u, err := h.authenticate(ctx, username, pw)
	switch {
	case errors.Is(err, errBadCredentials):
		outcome = checkFailed
		if h.addressFailed(ctx, addr) {
			h.log.WarnContext(ctx, "address locked after repeated failures", "event", "address_lockout", "address", addr)
		}
	case err == nil:
		outcome = checkPassed
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

// clearedElsewhere forgets acct's lock in this replica's memory when the
// person's stored failures were cleared after this replica last counted one
// (an unlock by the CLI in the database, a success on another replica), and
// reports whether it did. Known and unknown names pay the same lookup.
func (h *Handler) clearedElsewhere(ctx context.Context, username, acct string) bool {
	u, err := h.lookupUser(ctx, username)
	if err != nil || accountKey(u.Username) != acct {
		return false
	}
	if !u.SignIn.ClearedAt.After(h.accounts.lastSeen(acct)) {
		return false
	}
	h.accounts.forget(acct)
	return true
}

// lockFor is how long count failures lock a key under t's rule (Free
// failures, then Base doubling up to Max); zero while some are still free.
func (t *throttle) lockFor(count int) time.Duration {
	over := count - t.free
	if over < 0 {
		return 0
	}
	d := t.base << min(over, 30)
	if d <= 0 || d > t.max {
		d = t.max
	}
	return d
}

// addressKey is the shared counter's key of a client address.
func addressKey(addr string) string { return "address:" + addr }

// addressLock reports whether addr is locked, and until when: by the failures
// this replica counted, or by those every replica counted in the store.
func (h *Handler) addressLock(ctx context.Context, addr string) (bool, time.Time) {
	now := h.now()
	if locked, until := h.addresses.locked(addr, now); locked {
		return true, until
	}
	c, err := h.store.GetThrottle(ctx, addressKey(addr))
	if err != nil {
		// The sign-in itself needs the store; it will say so.
		h.log.WarnContext(ctx, "read the address throttle", "address", addr, "error", err)
		return false, time.Time{}
	}
	if now.Before(c.ExpiresAt) && now.Before(c.LockedUntil) {
		return true, c.LockedUntil
	}
	return false, time.Time{}
}

// addressFailed counts a failure of addr, in memory and in the store that
// every replica shares, and reports whether addr is now locked.
func (h *Handler) addressFailed(ctx context.Context, addr string) bool {
	t, now := h.addresses, h.now().UTC()
	locked := t.fail(addr, now)
	c, err := h.store.UpdateThrottle(context.WithoutCancel(ctx), addressKey(addr), func(c *storage.Throttle) {
		if !now.Before(c.ExpiresAt) {
			*c = storage.Throttle{} // forgotten: a long quiet starts over
		}
		c.Failures++
		c.Last = now
		if d := t.lockFor(c.Failures); d > 0 {
			c.LockedUntil = now.Add(d)
		}
		c.ExpiresAt = c.Last.Add(t.max + t.base)
		if c.LockedUntil.After(c.Last) {
			c.ExpiresAt = c.LockedUntil.Add(t.max + t.base)
		}
	})
	if err != nil {
		h.log.WarnContext(ctx, "count an address failure", "address", addr, "error", err)
		return locked
	}
	return locked || now.Before(c.LockedUntil)
}

// storeFailure counts a wrong password on the person's record, with the same
// rule as the account throttle (Free failures, then Base doubling up to Max),
// so that a lockout holds on every replica that shares the store, not only the
// one that counted it.
func (h *Handler) storeFailure(ctx context.Context, userID string) {
	t, now := h.accounts, h.now().UTC()
	if _, err := h.store.UpdateUser(ctx, userID, func(u *storage.User) error {
		f := &u.SignIn
		if !f.LockedUntil.IsZero() && now.Sub(f.Last) > t.max+t.base {
			*f = storage.SignInFailures{ClearedAt: f.ClearedAt} // a long quiet after a lock starts over
		}
		f.Count++
		f.Last = now
		if d := t.lockFor(f.Count); d > 0 {
			f.LockedUntil = now.Add(d)
		}
		return nil
	}); err != nil {
		h.log.WarnContext(ctx, "count sign-in failure", "subject", userID, "error", err)
	}
}
