package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/signet-idp/signet/provider/policy"
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

// DefaultThrottle is used for zero fields. It is the one place these defaults
// are set: main's configuration takes its own from it.
var DefaultThrottle = ThrottleConfig{AccountFree: 5, AddressFree: 100, Base: 30 * time.Second, Max: 15 * time.Minute, MaxEntries: 100_000}

// withDefaults fills the zero fields from DefaultThrottle.
func (tc ThrottleConfig) withDefaults() ThrottleConfig {
	d := DefaultThrottle
	tc.AccountFree, tc.AddressFree = cmp.Or(tc.AccountFree, d.AccountFree), cmp.Or(tc.AddressFree, d.AddressFree)
	tc.Base, tc.Max, tc.MaxEntries = cmp.Or(tc.Base, d.Base), cmp.Or(tc.Max, d.Max), cmp.Or(tc.MaxEntries, d.MaxEntries)
	return tc
}

// guardStore is what the guard reads and writes: the people whose passwords it
// checks (and whose hashes it upgrades), and the failure counters that every
// replica shares.
type guardStore interface {
	storage.Users
	storage.Throttles
}

// guard is the brute-force defence of every form that checks a password or a
// code (the sign-in, the second factor, the device code, the account pages):
// failures counted per client address (in this replica's memory and in the
// store) and per account (in the store), the gate that bounds the checks of
// one account at once, and the password check behind them.
type guard struct {
	*base
	store   guardStore
	hasher  *password.Hasher
	proxies proxies
	// accounts and addresses count failed sign-ins per username and per client
	// address.
	accounts  throttle.Limits  // the counts are in the store (throttle.Reserve)
	addresses *throttle.Memory // and in the store (throttle.Fail)
	// gate bounds the checks of one account running, and waiting, at once.
	gate *gate
}

// newGuard returns the guard of tc (its defaults filled in).
func newGuard(b *base, store guardStore, hasher *password.Hasher, p proxies, tc ThrottleConfig) *guard {
	return &guard{
		base: b, store: store, hasher: hasher, proxies: p,
		accounts:  throttle.Limits{Free: tc.AccountFree, Base: tc.Base, Max: tc.Max},
		addresses: throttle.NewMemory(throttle.Limits{Free: tc.AddressFree, Base: tc.Base, Max: tc.Max}, tc.MaxEntries),
		// No more checks of one account run at once than it has tries: the
		// others wait for the outcome instead of being turned away.
		gate: newGate(max(1, min(gateWidth, tc.AccountFree))),
	}
}

// proxies are the reverse proxies whose X-Forwarded-For is believed (config
// trusted_proxies).
type proxies []netip.Prefix

// clientAddress is the client's IP address, by the rule the access log uses
// too (policy.ClientAddress).
func (p proxies) clientAddress(r *http.Request) string {
	return policy.ClientAddress(r, p)
}

// busy answers a sign-in that found no password-hashing slot: a quick 503.
func (g *guard) busy(w http.ResponseWriter, r *http.Request) {
	g.log.InfoContext(r.Context(), "sign-in refused: busy", "event", "login_busy", "address", g.proxies.clientAddress(r))
	w.Header().Set("Retry-After", "1")
	g.render(w, r, http.StatusServiceUnavailable, "error", "Busy", templates.Message{Message: "Signet is busy right now. Please try again in a moment."})
}

// hashWait bounds how long a sign-in waits for a password-hashing slot.
const hashWait = 60 * time.Second

// addressLocked answers a locked client address at once (no password hashing
// for a flood) and reports whether it did.
func (g *guard) addressLocked(w http.ResponseWriter, r *http.Request) bool {
	locked, until := g.addressLock(r.Context(), g.proxies.clientAddress(r))
	if !locked {
		return false
	}
	secs := int(until.Sub(g.now())/time.Second) + 1
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	g.log.WarnContext(r.Context(), "sign-in refused: address locked", "event", "address_locked", "address", g.proxies.clientAddress(r))
	g.render(w, r, http.StatusTooManyRequests, "error", "Too many attempts", templates.Message{
		Message: "There were too many failed sign-ins from your network. Wait a few minutes, then try again.",
	})
	return true
}

// checkPassword is authenticate behind the brute-force limits: a locked account
// costs the same hash and gets the same answer as a wrong password; failures count
// against the account and the client address.
func (g *guard) checkPassword(r *http.Request, username, pw string) (*storage.User, error) {
	// Under a flood, a sign-in that cannot get a hashing slot soon gets a quick
	// "busy" page rather than joining a queue that grows.
	ctx, cancel := context.WithTimeout(r.Context(), hashWait)
	defer cancel()
	// One account, one budget of tries, whether it is named by username or by
	// email: an email address of a known person counts against their username.
	acct, addr := throttle.AccountKey(username), g.proxies.clientAddress(r)
	// The person is found as the sign-in finds them (lookupUser: a username
	// first), so failures count against the account they are checked on.
	if strings.Contains(username, "@") {
		if u, err := g.lookupUser(r.Context(), username); err == nil {
			acct = throttle.AccountKey(u.Username)
		}
	}
	// Only a few checks of one account run at once and a bounded number wait,
	// so a flood on one username is answered "busy" at once and never holds
	// every hashing slot.
	release, err := g.gate.enter(ctx, acct)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", password.ErrBusy, err)
	}
	defer release()
	// The try is charged in the store every replica shares, so that checks
	// at once on any number of replicas try no more than the account may.
	key := throttle.AccountStoreKey(acct)
	res, err := throttle.Reserve(ctx, g.store, key, g.accounts, g.now().UTC())
	if err != nil {
		return nil, err // storage cannot say: nothing is checked or counted
	}
	switch res {
	case throttle.LockedOut:
		if _, err := g.hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		g.log.InfoContext(ctx, "sign-in refused: account locked", "event", "account_locked", "address", addr)
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
		locked, err := throttle.Settle(context.WithoutCancel(ctx), g.store, key, g.accounts, g.now().UTC(), outcome)
		if err != nil {
			// The reservation lapses by itself (throttle.ReservationLapse).
			g.log.WarnContext(ctx, "settle an account check", "error", err)
		}
		if locked {
			g.log.WarnContext(ctx, "account locked after repeated failures", "event", "lockout", "address", addr)
		}
	}()
	u, err := g.authenticate(ctx, username, pw)
	switch {
	case errors.Is(err, errBadCredentials):
		outcome = throttle.CheckFailed
		if g.addressFailed(ctx, addr) {
			g.log.WarnContext(ctx, "address locked after repeated failures", "event", "address_lockout", "address", addr)
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
func (g *guard) addressLock(ctx context.Context, addr string) (bool, time.Time) {
	now := g.now()
	if locked, until := g.addresses.Locked(addr, now); locked {
		return true, until
	}
	until, err := throttle.LockedUntil(ctx, g.store, throttle.AddressStoreKey(addr), now)
	if err != nil {
		// The sign-in itself needs the store; it will say so.
		g.log.WarnContext(ctx, "read the address throttle", "address", addr, "error", err)
		return false, time.Time{}
	}
	return !until.IsZero(), until
}

// addressFailed counts a failure of addr, in memory and in the store that
// every replica shares, and reports whether addr is now locked.
func (g *guard) addressFailed(ctx context.Context, addr string) bool {
	now := g.now().UTC()
	locked := g.addresses.Fail(addr, now)
	stored, err := throttle.Fail(context.WithoutCancel(ctx), g.store, throttle.AddressStoreKey(addr), g.addresses.Limits, now)
	if err != nil {
		g.log.WarnContext(ctx, "count an address failure", "address", addr, "error", err)
	}
	return locked || stored
}

var errBadCredentials = errors.New("bad credentials")

// lookupUser finds the person a sign-in names: by username, or else by email
// address (compared case-insensitively), so the username field takes either.
func (g *guard) lookupUser(ctx context.Context, login string) (*storage.User, error) {
	if login == "" || len(login) > maxUsernameLen {
		return nil, storage.ErrNotFound
	}
	u, err := g.store.GetUserByUsername(ctx, login)
	if errors.Is(err, storage.ErrNotFound) && strings.Contains(login, "@") {
		u, err = g.store.GetUserByEmail(ctx, login)
	}
	return u, err
}

// authenticate checks a username and password. Unknown users, disabled users and
// wrong passwords all cost one password verification and return errBadCredentials.
func (g *guard) authenticate(ctx context.Context, username, pw string) (*storage.User, error) {
	if username == "" || len(username) > maxUsernameLen {
		if _, err := g.hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errUnknownUser
	}
	user, err := g.lookupUser(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		// Not a wrong password: storage cannot say just now (or a record is
		// damaged), and nothing is counted against the person or the address.
		return nil, err
	}
	if err != nil {
		if _, err := g.hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errUnknownUser
	}
	ok, rehash, err := g.hasher.Verify(ctx, user.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		return nil, err
	}
	if err != nil || !ok || user.Disabled {
		if !g.hasher.IsCurrent(user.PasswordHash) {
			// A hash with other parameters, an imported bcrypt or none at all
			// may cost less than the dummy an unknown user costs: pay the
			// dummy too, so a failure never answers faster than for a user
			// who does not exist.
			g.hasher.VerifyDummy(ctx, pw)
		}
		if err == nil && ok {
			return nil, errDisabledUser
		}
		return nil, errWrongPassword
	}
	if rehash {
		if enc, err := g.hasher.Hash(ctx, pw); err == nil {
			old := user.PasswordHash
			if _, err := g.store.UpdateUser(ctx, user.ID, func(u *storage.User) error {
				if u.PasswordHash != old {
					return storage.ErrConflict // changed meanwhile: keep the newer password
				}
				u.PasswordHash = enc
				return nil
			}); err != nil && !errors.Is(err, storage.ErrConflict) {
				g.log.WarnContext(ctx, "upgrade password hash", "subject", user.ID, "error", err)
			}
		}
	}
	return user, nil
}
