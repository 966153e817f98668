package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// MaxLength is the longest password accepted, in bytes. Longer passwords are refused
// before any hashing, so that nobody can make a single hash arbitrarily expensive.
const MaxLength = 1024

// Sizes of what Hash produces. Stored hashes with other sizes still verify, but need
// rehashing.
const (
	saltLen = 16
	keyLen  = 32
)

// Bounds on the parameters read from a stored hash, so that a corrupted or hostile
// record cannot make one verification allocate gigabytes or run for minutes.
const (
	maxMemoryKiB   = 4 << 20 // 4 GiB
	maxIterations  = 100
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 64
	maxBcryptCost  = 16
	argon2idPrefix = "$argon2id$"
)

var (
	// ErrTooLong is returned for a password longer than MaxLength bytes.
	ErrTooLong = errors.New("password: longer than 1024 bytes")
	// ErrBusy is returned when the context ends before a hashing slot is free (or
	// had already ended). It wraps the context's error as well.
	ErrBusy = errors.New("password: too many concurrent hashes")
	// ErrMalformed is returned by Verify for a stored hash it cannot parse or will
	// not use.
	ErrMalformed = errors.New("password: malformed hash")
)

// Params are the argon2id cost parameters of new hashes.
type Params struct {
	// MemoryKiB is the memory per hash in KiB.
	MemoryKiB uint32
	// Iterations is the number of passes over the memory (argon2's time parameter).
	Iterations uint32
	// Parallelism is the number of lanes.
	Parallelism uint8
}

// DefaultParams are the parameters used for zero fields of the Params given to New:
// the second recommended option of RFC 9106 (64 MiB, 3 passes, 4 lanes).
var DefaultParams = Params{MemoryKiB: 64 * 1024, Iterations: 3, Parallelism: 4}

// Hasher hashes and verifies passwords, at most a fixed number at a time. It is safe
// for concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	// waiting counts callers queued for a slot; past maxWaiting more are turned
	// away at once (ErrBusy), so a flood cannot grow an unbounded queue.
	waiting    atomic.Int64
	maxWaiting int64
	// dummy is an argon2id hash with the current parameters that no password
	// matches; VerifyDummy verifies against it.
	dummy string
	// testHook, when set by tests, is called with true when a hash starts (holding
	// a slot) and false when it ends.
	testHook func(start bool)
}

// New returns a Hasher making hashes with p and running at most maxConcurrent hashes
// at once (runtime.NumCPU() when <= 0). Zero fields of p take DefaultParams; memory is
// raised to argon2's floor of 8 KiB per lane and capped at 4 GiB, iterations at 100.
func New(p Params, maxConcurrent int) *Hasher {
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultParams.MemoryKiB
	}
	if p.Iterations == 0 {
		p.Iterations = DefaultParams.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = DefaultParams.Parallelism
	}
	// Keep within what Verify accepts from a stored hash.
	p.MemoryKiB = min(p.MemoryKiB, maxMemoryKiB)
	p.Iterations = min(p.Iterations, maxIterations)
	// argon2 itself raises the memory to this floor; record what is really used
	// so that the encoded parameters and the rehash decision match.
	if floor := 8 * uint32(p.Parallelism); p.MemoryKiB < floor {
		p.MemoryKiB = floor
	}
	if maxConcurrent <= 0 {
		// One per CPU, but no more than 256 MiB of argon2 memory at once.
		maxConcurrent = max(1, min(runtime.NumCPU(), int((256<<10)/p.MemoryKiB)))
	}
	h := &Hasher{params: p, sem: make(chan struct{}, maxConcurrent), maxWaiting: int64(128 * maxConcurrent)}
	// The dummy needs no hashing: random bytes in place of the key make a hash that
	// costs exactly as much to check as a real one and that nothing matches.
	h.dummy = encode(p, randomBytes(saltLen), randomBytes(keyLen))
	return h
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC-encoded argon2id hash of password with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxLength {
		return "", ErrTooLong
	}
	salt := randomBytes(saltLen)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), salt, h.params.Iterations, h.params.MemoryKiB, h.params.Parallelism, keyLen)
	collect(h.params.MemoryKiB)
	return encode(h.params, salt, key), nil
}

// Verify reports whether password matches the stored hash encoded, and whether the
// hash should be replaced by a new one from Hash (it is bcrypt, or argon2id with other
// parameters than the current ones). needsRehash is only meaningful when ok is true.
// A hash that cannot be parsed returns ErrMalformed.
func (h *Hasher) Verify(ctx context.Context, encoded, password string) (ok, needsRehash bool, err error) {
	if len(password) > MaxLength {
		return false, false, ErrTooLong
	}
	if strings.HasPrefix(encoded, argon2idPrefix) {
		d, err := decode(encoded)
		if err != nil {
			return false, false, err
		}
		ok, err := h.verifyArgon2(ctx, d, password)
		if err != nil || !ok {
			return false, false, err
		}
		return true, d.params != h.params || len(d.salt) != saltLen || len(d.key) != keyLen, nil
	}
	if isBcrypt(encoded) {
		ok, err := h.verifyBcrypt(ctx, encoded, password)
		if err != nil || !ok {
			return false, false, err
		}
		return true, true, nil
	}
	return false, false, fmt.Errorf("%w: unknown algorithm", ErrMalformed)
}

// Check reports whether encoded is a hash Verify can use (argon2id in PHC form
// within the accepted parameters, or bcrypt), without hashing anything: imports
// check every row before any is stored. It returns an error wrapping ErrMalformed.
func Check(encoded string) error {
	if strings.HasPrefix(encoded, argon2idPrefix) {
		_, err := decode(encoded)
		return err
	}
	if isBcrypt(encoded) {
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil || len(encoded) != 60 {
			return fmt.Errorf("%w: not a bcrypt hash", ErrMalformed)
		}
		if cost > maxBcryptCost {
			return fmt.Errorf("%w: bcrypt cost %d above %d", ErrMalformed, cost, maxBcryptCost)
		}
		return nil
	}
	return fmt.Errorf("%w: neither argon2id nor bcrypt", ErrMalformed)
}

// IsCurrent reports whether encoded is an argon2id hash with the current
// parameters, so that checking it costs what VerifyDummy costs. A failed check
// of any other hash (bcrypt, other parameters, none) pays VerifyDummy as well.
func (h *Hasher) IsCurrent(encoded string) bool {
	if !strings.HasPrefix(encoded, argon2idPrefix) {
		return false
	}
	d, err := decode(encoded)
	return err == nil && d.params == h.params && len(d.salt) == saltLen && len(d.key) == keyLen
}

// VerifyDummy does the work of verifying password against a hash with the current
// parameters and returns false. Call it when the username is unknown, so that the
// answer takes as long as for a known one. Its errors are those of Verify (ErrTooLong,
// ErrBusy).
func (h *Hasher) VerifyDummy(ctx context.Context, password string) (bool, error) {
	_, _, err := h.Verify(ctx, h.dummy, password)
	return false, err
}

func (h *Hasher) verifyArgon2(ctx context.Context, d decoded, password string) (bool, error) {
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	key := argon2.IDKey([]byte(password), d.salt, d.params.Iterations, d.params.MemoryKiB, d.params.Parallelism, uint32(len(d.key)))
	collect(d.params.MemoryKiB)
	return subtle.ConstantTimeCompare(key, d.key) == 1, nil
}

// collect returns a large hash's memory before its slot is released: argon2
// allocates it anew for every hash, and without a collection each slot holds two
// of them at the peak (measured: 433 MiB against 185 MiB for 200 concurrent
// logins at 64 MiB and two slots). Small hashes (tests) skip it.
func collect(memoryKiB uint32) {
	if memoryKiB >= 16*1024 {
		runtime.GC()
	}
}

func (h *Hasher) verifyBcrypt(ctx context.Context, encoded, password string) (bool, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
	if cost > maxBcryptCost {
		return false, fmt.Errorf("%w: bcrypt cost %d above %d", ErrMalformed, cost, maxBcryptCost)
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	// CompareHashAndPassword compares in constant time.
	err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
}

// acquire takes a hashing slot, or returns ErrBusy when ctx ends first. A context
// that has already ended never starts a hash.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	select {
	case h.sem <- struct{}{}:
	default:
		if h.waiting.Add(1) > h.maxWaiting {
			h.waiting.Add(-1)
			return fmt.Errorf("%w: %d callers already waiting", ErrBusy, h.maxWaiting)
		}
		defer h.waiting.Add(-1)
		select {
		case h.sem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrBusy, ctx.Err())
		}
	}
	if h.testHook != nil {
		h.testHook(true)
	}
	return nil
}

func (h *Hasher) release() {
	if h.testHook != nil {
		h.testHook(false)
	}
	<-h.sem
}

func isBcrypt(s string) bool {
	return strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$")
}

// decoded is a parsed argon2id PHC string.
type decoded struct {
	params Params
	salt   []byte
	key    []byte
}

var b64 = base64.RawStdEncoding.Strict()

func encode(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash" strictly: the version must be
// 19, the parameters in that order, and every value within the bounds above.
func decode(s string) (decoded, error) {
	var d decoded
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return d, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformed)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return d, fmt.Errorf("%w: unsupported argon2 version", ErrMalformed)
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return d, fmt.Errorf("%w: want parameters m, t and p", ErrMalformed)
	}
	m, err := param(kv[0], "m", 1, maxMemoryKiB)
	if err != nil {
		return d, err
	}
	t, err := param(kv[1], "t", 1, maxIterations)
	if err != nil {
		return d, err
	}
	p, err := param(kv[2], "p", 1, 255)
	if err != nil {
		return d, err
	}
	if m < 8*p {
		return d, fmt.Errorf("%w: memory below 8*p KiB", ErrMalformed)
	}
	d.params = Params{MemoryKiB: uint32(m), Iterations: uint32(t), Parallelism: uint8(p)}
	// The decoder skips CR and LF: re-encoding catches them and anything else
	// non-canonical.
	if d.salt, err = b64.DecodeString(parts[4]); err != nil || b64.EncodeToString(d.salt) != parts[4] {
		return d, fmt.Errorf("%w: salt is not base64", ErrMalformed)
	}
	if len(d.salt) < minSaltLen || len(d.salt) > maxSaltLen {
		return d, fmt.Errorf("%w: salt of %d bytes", ErrMalformed, len(d.salt))
	}
	if d.key, err = b64.DecodeString(parts[5]); err != nil || b64.EncodeToString(d.key) != parts[5] {
		return d, fmt.Errorf("%w: hash is not base64", ErrMalformed)
	}
	if len(d.key) < minKeyLen || len(d.key) > maxKeyLen {
		return d, fmt.Errorf("%w: hash of %d bytes", ErrMalformed, len(d.key))
	}
	return d, nil
}

// param parses "name=value" with value a decimal integer in [lo, hi].
func param(s, name string, lo, hi uint64) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %s", ErrMalformed, name)
	}
	if len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("%w: parameter %s not canonical", ErrMalformed, name)
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: parameter %s out of range", ErrMalformed, name)
	}
	return n, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	// crypto/rand.Read never fails (it crashes the program if the OS cannot
	// provide randomness).
	_, _ = rand.Read(b)
	return b
}
