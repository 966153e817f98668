package totp

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/storage"
)

// Parameters of the codes.
const (
	// Digits is the length of a TOTP code.
	Digits = 6
	// Period is the length of a time step in seconds.
	Period = 30
	// Skew is how many steps either side of the current one are accepted.
	Skew = 1
	// SecretSize is the size of a TOTP secret in bytes (RFC 4226 recommends 160 bits).
	SecretSize = 20
	// RecoveryCodeCount is how many recovery codes a person gets at a time.
	RecoveryCodeCount = 10
	// FreeFailures is how many wrong codes in a row are allowed before backing off.
	FreeFailures = 3
	// MaxBackoff is the longest wait between attempts after repeated failures.
	MaxBackoff = time.Hour
	// PendingLifetime is how long a secret shown for enrolment can be confirmed.
	PendingLifetime = 15 * time.Minute
	// MaxInputLen bounds what a person may type into the code field.
	MaxInputLen = 64
)

// Errors. Every rejection wraps ErrRejected, and a person is shown the same
// message for all of them; the distinction is for logs and tests. None of them
// carries the code.
var (
	ErrRejected = errors.New("totp: code rejected")
	// ErrInvalidCode: malformed, wrong, stale or already used.
	ErrInvalidCode = fmt.Errorf("%w: invalid or already used", ErrRejected)
	// ErrThrottled: too many failures; no code is checked until later.
	ErrThrottled = fmt.Errorf("%w: too many failures, backing off", ErrRejected)
	// ErrNotEnrolled: the person has no second factor (or is disabled or unknown).
	ErrNotEnrolled = fmt.Errorf("%w: no second factor", ErrRejected)
	// ErrNoEnrolment: no enrolment is waiting for confirmation, or it expired.
	ErrNoEnrolment = fmt.Errorf("%w: no enrolment pending", ErrRejected)
	// ErrSealed: a sealed secret could not be opened (wrong key or damaged).
	ErrSealed = errors.New("totp: cannot open the sealed secret")
)

// DeriveKey derives the key that seals TOTP secrets from a server secret
// (HMAC-SHA256 with a label of its own), so that it differs from every other key
// derived from it. Signet derives it from the cookie key, which `keys rewrap`
// leaves alone: rewrapping the signing keys must not lock people out.
func DeriveKey(secret [32]byte) [32]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("signet/totp-secret-seal/v1"))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

// Authenticator enrols and checks second factors. It is safe for concurrent use.
type Authenticator struct {
	aead   cipher.AEAD
	issuer string
	now    func() time.Time
}

// New returns an Authenticator sealing secrets with key (see DeriveKey), naming
// itself issuer in authenticator apps, and taking the time from now (time.Now when
// nil).
func New(key [32]byte, issuer string, now func() time.Time) (*Authenticator, error) {
	if key == ([32]byte{}) {
		return nil, errors.New("totp: the sealing key is all zero")
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	issuer = strings.ReplaceAll(issuer, ":", " ")
	if strings.TrimSpace(issuer) == "" {
		issuer = "Signet"
	}
	return &Authenticator{aead: aead, issuer: issuer, now: now}, nil
}

const sealVersion = 1

func additionalData(userID string) []byte { return []byte("signet/totp\x00" + userID) }

// seal encrypts a secret for one person: version | nonce | ciphertext. The user
// id is authenticated data, so a sealed secret copied to another person fails.
func (a *Authenticator) seal(userID string, secret []byte) []byte {
	nonce := make([]byte, a.aead.NonceSize())
	rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return a.aead.Seal(out, nonce, secret, additionalData(userID))
}

func (a *Authenticator) open(userID string, sealed []byte) ([]byte, error) {
	ns := a.aead.NonceSize()
	if len(sealed) < 1+ns+a.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrSealed
	}
	secret, err := a.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], additionalData(userID))
	if err != nil {
		return nil, ErrSealed
	}
	return secret, nil
}

// CheckSealed returns nil when sealed, a secret sealed for userID as
// storage.TOTP holds it, opens with key (see DeriveKey), and ErrSealed when it
// does not. It lets a move of the data to another store refuse a key that
// would lock every person out of their second factor. The secret stays here.
func CheckSealed(key [32]byte, userID string, sealed []byte) error {
	a, err := New(key, "", nil)
	if err != nil {
		return err
	}
	_, err = a.open(userID, sealed)
	return err
}

// Kind says what a person typed.
type Kind int

// Kinds of codes.
const (
	KindTOTP Kind = iota + 1
	KindRecovery
)

// Code is a parsed, well-formed code. It never prints its value.
type Code struct {
	Kind  Kind
	value string
}

// String hides the value, so that a Code logged by mistake reveals nothing.
func (c Code) String() string { return "[code redacted]" }

// recoveryAlphabet is Crockford's base32 in lower case: no i, l, o or u.
const recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"

var recoveryEncoding = base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding)

// recoveryLen is the length of a recovery code without separators: 80 bits.
const recoveryLen = 16

// ParseCode reads what a person typed: six ASCII digits (a TOTP code) or sixteen
// characters of the recovery alphabet (a recovery code). Spaces and hyphens are
// ignored, case does not matter, and in a recovery code i and l read as 1 and o
// as 0. Anything else, or more than MaxInputLen bytes, is ErrInvalidCode.
func ParseCode(s string) (Code, error) {
	if len(s) > MaxInputLen {
		return Code{}, ErrInvalidCode
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '-', '\t':
		default:
			b.WriteByte(c)
		}
	}
	t := b.String()
	if len(t) == Digits && allDigits(t) {
		return Code{Kind: KindTOTP, value: t}, nil
	}
	if len(t) != recoveryLen {
		return Code{}, ErrInvalidCode
	}
	r := []byte(t)
	for i, c := range r {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case 'i', 'l':
			c = '1'
		case 'o':
			c = '0'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return Code{}, ErrInvalidCode
		}
		r[i] = c
	}
	return Code{Kind: KindRecovery, value: string(r)}, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hashRecovery is how a recovery code is stored: SHA-256 of the normalised code
// (80 random bits; a slow hash adds nothing).
func hashRecovery(normalised string) string {
	sum := sha256.Sum256([]byte("signet/recovery\x00" + normalised))
	return hex.EncodeToString(sum[:])
}

// newRecoveryCodes returns RecoveryCodeCount codes as shown to a person
// ("abcd-efgh-jkmn-pqrs") and their hashes.
func newRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		b := make([]byte, recoveryLen*5/8)
		rand.Read(b)
		s := recoveryEncoding.EncodeToString(b)
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashRecovery(s))
	}
	return codes, hashes
}

// Backoff is how long every code is refused after the given number of wrong
// codes in a row: nothing for the first FreeFailures-1, then 15 s, doubling, at
// most MaxBackoff.
func Backoff(failures int) time.Duration {
	if failures < FreeFailures {
		return 0
	}
	n := failures - FreeFailures
	if n > 12 {
		return MaxBackoff
	}
	return min(15*time.Second<<n, MaxBackoff)
}

// Step returns the time step of t.
func Step(t time.Time) int64 { return t.Unix() / Period }

var validateOpts = hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// matchStep returns the newest step within the skew of now whose code is c and
// that is after last; ok is false when there is none.
func matchStep(secret []byte, c Code, now time.Time, last int64) (step int64, ok bool) {
	enc := b32.EncodeToString(secret)
	cur := Step(now)
	for s := cur + Skew; s >= cur-Skew; s-- {
		want, err := hotp.GenerateCodeCustom(enc, uint64(s), validateOpts)
		if err != nil {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(c.value)) == 1 && s > last && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// Method is how a second factor was proven.
type Method int

// Methods.
const (
	MethodTOTP Method = iota + 1
	MethodRecovery
)

// Verify checks input as userID's second factor: a current TOTP code of a step
// after the last accepted one, or an unused recovery code (which is then spent).
// Checking and recording happen in one UpdateUser transaction, so of two
// concurrent uses of one code only one succeeds. A wrong code counts a failure;
// after FreeFailures of them every code is refused until the Backoff has passed. A
// correct code resets the count. Malformed input changes nothing.
//
// Every rejection wraps ErrRejected; any other error is a storage or sealing
// problem.
func (a *Authenticator) Verify(ctx context.Context, users storage.Users, userID, input string) (Method, error) {
	code, err := ParseCode(input)
	if err != nil {
		return 0, err
	}
	now := a.now()
	var method Method
	var rejected error
	_, err = users.UpdateUser(ctx, userID, func(u *storage.User) error {
		method, rejected = 0, nil
		t := &u.TOTP
		if u.Disabled || !t.Enrolled() {
			return ErrNotEnrolled
		}
		if now.Before(t.LockedUntil) {
			return ErrThrottled
		}
		switch code.Kind {
		case KindTOTP:
			secret, err := a.open(u.ID, t.Secret)
			if err != nil {
				return err
			}
			if step, ok := matchStep(secret, code, now, t.LastStep); ok {
				t.LastStep = step
				method = MethodTOTP
			}
		case KindRecovery:
			h := hashRecovery(code.value)
			for i, stored := range t.RecoveryCodes {
				if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1 {
					t.RecoveryCodes = slices.Delete(slices.Clone(t.RecoveryCodes), i, i+1)
					method = MethodRecovery
					break
				}
			}
		}
		if method != 0 {
			t.Failures, t.LockedUntil = 0, time.Time{}
			return nil
		}
		t.Failures++
		if d := Backoff(t.Failures); d > 0 {
			t.LockedUntil = now.Add(d).UTC()
		}
		rejected = ErrInvalidCode
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return 0, ErrNotEnrolled
	}
	if err != nil {
		return 0, err
	}
	if rejected != nil {
		return 0, rejected
	}
	return method, nil
}

// Enrolment is what a person needs to add the secret to an authenticator app.
// It holds the secret in the clear: show it once, never log it.
type Enrolment struct {
	// Secret is the base32 secret (no padding), as typed into an app.
	Secret string
	// URI is the otpauth:// key URI.
	URI string
	// QR is the URI as a QR code, a data: URL of a PNG image.
	QR string
}

// BeginEnrolment returns a secret to enrol for the browser session sid: with
// reuse, the one already waiting for that session's confirmation if it is younger
// than PendingLifetime (so that reloading the page shows the same secret),
// otherwise a new one, stored sealed until ConfirmEnrolment. The current second
// factor, if any, stays until then.
//
// The pending secret belongs to sid alone: a secret shown to another session
// (someone who briefly held the password) is never shown to or confirmed by this
// one, so it cannot be planted for the person to confirm later.
func (a *Authenticator) BeginEnrolment(ctx context.Context, users storage.Users, userID, sid string, reuse bool) (*Enrolment, error) {
	now := a.now()
	fresh := func(t *storage.TOTP) bool {
		return reuse && pendingFor(t, sid, now)
	}
	u, err := users.GetUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	var secret []byte
	if fresh(&u.TOTP) {
		if secret, err = a.open(u.ID, u.TOTP.PendingSecret); err != nil {
			return nil, err
		}
	} else {
		u, err = users.UpdateUser(ctx, userID, func(u *storage.User) error {
			secret = nil
			if fresh(&u.TOTP) { // another request created one meanwhile
				s, err := a.open(u.ID, u.TOTP.PendingSecret)
				secret = s
				return err
			}
			secret = make([]byte, SecretSize)
			rand.Read(secret)
			u.TOTP.PendingSecret = a.seal(u.ID, secret)
			u.TOTP.PendingSince = now.UTC()
			u.TOTP.PendingSID = sid
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return a.enrolment(u.Username, secret)
}

// PendingEnrolment returns the enrolment waiting for the confirmation of session
// sid, if it is younger than PendingLifetime; otherwise ErrNoEnrolment. It never
// creates one.
func (a *Authenticator) PendingEnrolment(ctx context.Context, users storage.Users, userID, sid string) (*Enrolment, error) {
	now := a.now()
	u, err := users.GetUser(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	t := &u.TOTP
	if !pendingFor(t, sid, now) {
		return nil, ErrNoEnrolment
	}
	secret, err := a.open(u.ID, t.PendingSecret)
	if err != nil {
		return nil, err
	}
	return a.enrolment(u.Username, secret)
}

func (a *Authenticator) enrolment(account string, secret []byte) (*Enrolment, error) {
	account = strings.ReplaceAll(account, ":", " ")
	key, err := pqtotp.Generate(pqtotp.GenerateOpts{
		Issuer: a.issuer, AccountName: account, Period: Period, Secret: secret,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp: key uri: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("totp: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: qr code: %w", err)
	}
	return &Enrolment{
		Secret: b32.EncodeToString(secret),
		URI:    key.URL(),
		QR:     "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// ConfirmEnrolment completes an enrolment begun by session sid less than
// PendingLifetime ago when input is a current code of the new secret. The new secret replaces any
// previous one, its step counts as used, failures are cleared, and fresh recovery
// codes replace the old ones: they are returned, to be shown once. A wrong code
// changes nothing.
func (a *Authenticator) ConfirmEnrolment(ctx context.Context, users storage.Users, userID, sid, input string) ([]string, error) {
	code, err := ParseCode(input)
	if err != nil || code.Kind != KindTOTP {
		return nil, ErrInvalidCode
	}
	now := a.now()
	codes, hashes := newRecoveryCodes()
	_, err = users.UpdateUser(ctx, userID, func(u *storage.User) error {
		t := &u.TOTP
		if u.Disabled || !pendingFor(t, sid, now) {
			return ErrNoEnrolment
		}
		secret, err := a.open(u.ID, t.PendingSecret)
		if err != nil {
			return err
		}
		step, ok := matchStep(secret, code, now, -1)
		if !ok {
			return ErrInvalidCode
		}
		*t = storage.TOTP{
			Secret:        t.PendingSecret,
			EnrolledAt:    now.UTC(),
			LastStep:      step,
			RecoveryCodes: hashes,
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// pendingFor reports whether t holds an enrolment begun by session sid that may
// still be confirmed at now.
func pendingFor(t *storage.TOTP, sid string, now time.Time) bool {
	return len(t.PendingSecret) > 0 && sid != "" && t.PendingSID == sid &&
		now.Sub(t.PendingSince) < PendingLifetime && !now.Before(t.PendingSince)
}

// ClearPending forgets an enrolment waiting for confirmation. Callers run it
// inside the UpdateUser of a change that ends sessions (a new password, signing
// out everywhere), so that no secret shown before the change can be confirmed
// after it.
func ClearPending(t *storage.TOTP) {
	t.PendingSecret, t.PendingSince, t.PendingSID = nil, time.Time{}, ""
}

// NewRecoveryCodes replaces a person's recovery codes with fresh ones and returns
// them, to be shown once.
func (a *Authenticator) NewRecoveryCodes(ctx context.Context, users storage.Users, userID string) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	_, err := users.UpdateUser(ctx, userID, func(u *storage.User) error {
		if !u.TOTP.Enrolled() {
			return ErrNotEnrolled
		}
		u.TOTP.RecoveryCodes = hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// ResetMFA removes a person's second factor: the TOTP secret, the recovery codes,
// an enrolment waiting for confirmation and the failure count, in one UpdateUser
// transaction. The person signs in with a password alone afterwards (or is asked
// to enrol where a second factor is required). It is the admin's "user mfa reset"
// and the account page's "turn off"; resetting a person without a second factor
// succeeds and changes nothing. An unknown user is storage.ErrNotFound.
func ResetMFA(ctx context.Context, store storage.Users, userID string) error {
	_, err := store.UpdateUser(ctx, userID, func(u *storage.User) error {
		u.TOTP = storage.TOTP{}
		return nil
	})
	return err
}
