package totp

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

func TestParseCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		kind  Kind
		value string
	}{
		{"123456", KindTOTP, "123456"},
		{" 123 456 ", KindTOTP, "123456"},
		{"123-456", KindTOTP, "123456"},
		{"000000", KindTOTP, "000000"},
		{"abcd-efgh-jkmn-pqrs", KindRecovery, "abcdefghjkmnpqrs"},
		{"ABCD EFGH JKMN PQRS", KindRecovery, "abcdefghjkmnpqrs"},
		{"abcdefghjkmnpqrs", KindRecovery, "abcdefghjkmnpqrs"},
		{"oiLa-0000-1111-2222", KindRecovery, "011a000011112222"}, // o->0, i,l->1
		{"", 0, ""},
		{"   ", 0, ""},
		{"12345", 0, ""},
		{"1234567", 0, ""},
		{"12345a", 0, ""},
		{"١٢٣٤٥٦", 0, ""}, // non-ASCII digits
		{"123456\x00", 0, ""},
		{"abcd-efgh-jkmn-pqr", 0, ""},   // 15 characters
		{"abcd-efgh-jkmn-pqrst", 0, ""}, // 17 characters
		{"abcd-efgh-jkmn-pqr!", 0, ""},  // outside the alphabet
		{"abcd-efgh-jkmn-pqru", 0, ""},  // u is not in the alphabet
		{"ａbcd-efgh-jkmn-pqrs", 0, ""},  // full-width letter
		{strings.Repeat(" ", 58) + "123456", KindTOTP, "123456"},
		{strings.Repeat(" ", 65) + "123456", 0, ""}, // too long before trimming
		{strings.Repeat("1", 10000), 0, ""},
	} {
		c, err := ParseCode(tc.in)
		if tc.kind == 0 {
			if !errors.Is(err, ErrInvalidCode) || !errors.Is(err, ErrRejected) {
				t.Errorf("ParseCode(%q) = %v, %v; want ErrInvalidCode", tc.in, c.Kind, err)
			}
			continue
		}
		if err != nil || c.Kind != tc.kind || c.value != tc.value {
			t.Errorf("ParseCode(%q) = %d %q, %v; want %d %q", tc.in, c.Kind, c.value, err, tc.kind, tc.value)
		}
		if s := fmt.Sprint(c); c.value != "" && strings.Contains(s, c.value) {
			t.Errorf("a Code prints its value: %s", s)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "abcd-efgh-jkmn-pqrs", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			return
		}
		switch c.Kind {
		case KindTOTP:
			if len(c.value) != Digits || !allDigits(c.value) {
				t.Fatalf("TOTP code %q from %q", c.value, s)
			}
		case KindRecovery:
			if len(c.value) != recoveryLen || strings.Trim(c.value, recoveryAlphabet) != "" {
				t.Fatalf("recovery code %q from %q", c.value, s)
			}
		default:
			t.Fatalf("kind %d", c.Kind)
		}
	})
}

func testKey(b byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestSeal(t *testing.T) {
	t.Parallel()
	a, err := New(DeriveKey(testKey(1)), "Signet", nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdefghij")
	sealed := a.seal("u1", secret)
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed secret contains the secret")
	}
	if again := a.seal("u1", secret); bytes.Equal(again, sealed) {
		t.Error("two seals of one secret are equal (nonce reuse)")
	}
	got, err := a.open("u1", sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := a.open("u2", sealed); !errors.Is(err, ErrSealed) {
		t.Errorf("open for another user: %v, want ErrSealed", err)
	}
	other, _ := New(DeriveKey(testKey(2)), "Signet", nil)
	if _, err := other.open("u1", sealed); !errors.Is(err, ErrSealed) {
		t.Errorf("open with another key: %v, want ErrSealed", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x40
		if _, err := a.open("u1", bad); !errors.Is(err, ErrSealed) {
			t.Fatalf("open with byte %d flipped: %v", i, err)
		}
	}
	for _, n := range []int{0, 1, 13, len(sealed) - 1} {
		if _, err := a.open("u1", sealed[:n]); !errors.Is(err, ErrSealed) {
			t.Errorf("open of %d bytes: %v", n, err)
		}
	}
	if _, err := New([32]byte{}, "Signet", nil); err == nil {
		t.Error("New accepted an all-zero key")
	}
}

func TestCheckSealed(t *testing.T) {
	a, err := New(DeriveKey(testKey(1)), "Signet", nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.seal("u1", []byte("0123456789abcdefghij"))
	if err := CheckSealed(DeriveKey(testKey(1)), "u1", sealed); err != nil {
		t.Errorf("the sealing key: %v", err)
	}
	for name, err := range map[string]error{
		"another key":        CheckSealed(DeriveKey(testKey(2)), "u1", sealed),
		"the underived key":  CheckSealed(testKey(1), "u1", sealed),
		"another person":     CheckSealed(DeriveKey(testKey(1)), "u2", sealed),
		"a truncated secret": CheckSealed(DeriveKey(testKey(1)), "u1", sealed[:len(sealed)-1]),
		"no secret":          CheckSealed(DeriveKey(testKey(1)), "u1", nil),
	} {
		if !errors.Is(err, ErrSealed) {
			t.Errorf("%s: %v, want ErrSealed", name, err)
		}
	}
	if err := CheckSealed([32]byte{}, "u1", sealed); err == nil {
		t.Error("an all-zero key opened a secret")
	}
}

func TestDeriveKey(t *testing.T) {
	t.Parallel()
	kek := testKey(7)
	k := DeriveKey(kek)
	if k == kek || k == DeriveKey(testKey(8)) || k != DeriveKey(kek) {
		t.Errorf("DeriveKey is not a distinct, deterministic derivation")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	prev := time.Duration(0)
	for f := 0; f < 100; f++ {
		d := Backoff(f)
		if f < FreeFailures && d != 0 {
			t.Errorf("Backoff(%d) = %s, want 0", f, d)
		}
		if f >= FreeFailures && d <= 0 {
			t.Errorf("Backoff(%d) = %s, want positive", f, d)
		}
		if d < prev || d > MaxBackoff {
			t.Errorf("Backoff(%d) = %s after %s (max %s)", f, d, prev, MaxBackoff)
		}
		prev = d
	}
	if Backoff(FreeFailures) != 15*time.Second || Backoff(FreeFailures+1) != 30*time.Second || Backoff(1000) != MaxBackoff {
		t.Errorf("Backoff schedule: %s %s %s", Backoff(FreeFailures), Backoff(FreeFailures+1), Backoff(1000))
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes, hashes := newRecoveryCodes()
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		p, err := ParseCode(c)
		if err != nil || p.Kind != KindRecovery {
			t.Fatalf("code %q does not parse: %v", c, err)
		}
		if hashRecovery(p.value) != hashes[i] {
			t.Errorf("hash of code %d differs", i)
		}
		if strings.Contains(hashes[i], p.value) || seen[c] {
			t.Errorf("code %d: hash holds the code, or a duplicate", i)
		}
		seen[c] = true
	}
}

type fixture struct {
	a     *Authenticator
	store storage.Store
	clock *clocktest.Clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "signet.db"), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clocktest.New(time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)) // 10 s into a step
	a, err := New(DeriveKey(testKey(1)), "Signet test", clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateUser(t.Context(), &storage.User{ID: "u1", Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	return &fixture{a: a, store: st, clock: clk}
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := pqtotp.GenerateCodeCustom(secret, at, pqtotp.ValidateOpts{Period: Period, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol runs an enrolment and returns the secret and the recovery codes.
func (f *fixture) enrol(t *testing.T) (string, []string) {
	t.Helper()
	e, err := f.a.BeginEnrolment(t.Context(), f.store, "u1", "sid-1", true)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := f.a.ConfirmEnrolment(t.Context(), f.store, "u1", "sid-1", code(t, e.Secret, f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret, rc
}

func (f *fixture) user(t *testing.T) *storage.User {
	t.Helper()
	u, err := f.store.GetUser(t.Context(), "u1")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestEnrolment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.a.Verify(ctx, f.store, "u1", "123456"); !errors.Is(err, ErrNotEnrolled) {
		t.Fatalf("Verify before enrolment: %v", err)
	}
	e1, err := f.a.BeginEnrolment(ctx, f.store, "u1", "sid-1", true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e1.URI, "otpauth://totp/") || !strings.Contains(e1.URI, "secret="+e1.Secret) ||
		!strings.HasPrefix(e1.QR, "data:image/png;base64,") || len(e1.Secret) != 32 {
		t.Fatalf("enrolment: %+v", e1)
	}
	u := f.user(t)
	if u.TOTP.Enrolled() || len(u.TOTP.PendingSecret) == 0 || bytes.Contains(u.TOTP.PendingSecret, []byte(e1.Secret)) {
		t.Fatalf("stored pending state: %+v", u.TOTP)
	}
	// Reloading shows the same secret; without reuse, a new one.
	if e2, _ := f.a.BeginEnrolment(ctx, f.store, "u1", "sid-1", true); e2.Secret != e1.Secret {
		t.Errorf("reuse gave another secret")
	}
	f.clock.Advance(PendingLifetime)
	e3, _ := f.a.BeginEnrolment(ctx, f.store, "u1", "sid-1", true)
	if e3.Secret == e1.Secret {
		t.Errorf("an expired pending secret was reused")
	}
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "sid-1", code(t, e1.Secret, f.clock.Now())); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("confirm with the replaced secret: %v", err)
	}
	for _, bad := range []string{"", "abc", "12345", "abcd-efgh-jkmn-pqrs"} {
		if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "sid-1", bad); !errors.Is(err, ErrInvalidCode) {
			t.Errorf("confirm with %q: %v", bad, err)
		}
	}
	rc, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "sid-1", code(t, e3.Secret, f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rc) != RecoveryCodeCount {
		t.Errorf("%d recovery codes", len(rc))
	}
	u = f.user(t)
	if !u.TOTP.Enrolled() || len(u.TOTP.PendingSecret) != 0 || u.TOTP.LastStep != Step(f.clock.Now()) || len(u.TOTP.RecoveryCodes) != RecoveryCodeCount {
		t.Fatalf("stored state after enrolment: %+v", u.TOTP)
	}
	// The confirmation code is used: it does not sign in.
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, e3.Secret, f.clock.Now())); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("the confirmation code was accepted again: %v", err)
	}
	// Confirming twice fails: nothing is pending.
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "sid-1", code(t, e3.Secret, f.clock.Now())); !errors.Is(err, ErrNoEnrolment) {
		t.Errorf("second confirmation: %v", err)
	}
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "nobody", "sid-1", "123456"); !errors.Is(err, ErrNoEnrolment) {
		t.Errorf("confirm for an unknown user: %v", err)
	}
}

func TestVerifyReplayAndSkew(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	secret, _ := f.enrol(t)
	f.clock.Advance(Period * time.Second)
	now := f.clock.Now()
	c := code(t, secret, now)
	if m, err := f.a.Verify(ctx, f.store, "u1", c); err != nil || m != MethodTOTP {
		t.Fatalf("Verify current code: %v %v", m, err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", c); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("replayed code: %v", err)
	}
	// The previous step's code is older than the last accepted one.
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, secret, now.Add(-Period*time.Second))); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("older code after a newer one: %v", err)
	}
	// A phone one step ahead is accepted; then the current step is spent too.
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, secret, now.Add(Period*time.Second))); err != nil {
		t.Errorf("code one step ahead: %v", err)
	}
	f.clock.Advance(3 * Period * time.Second)
	now = f.clock.Now()
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, secret, now.Add(-2*Period*time.Second))); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("code two steps behind: %v", err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, secret, now.Add(2*Period*time.Second))); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("code two steps ahead: %v", err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", code(t, secret, now.Add(-Period*time.Second))); err != nil {
		t.Errorf("code one step behind: %v", err)
	}
}

// Of concurrent submissions of one code exactly one succeeds.
func TestVerifyConcurrentOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	secret, _ := f.enrol(t)
	f.clock.Advance(Period * time.Second)
	c := code(t, secret, f.clock.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.a.Verify(t.Context(), f.store, "u1", c); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 8 concurrent uses of one code succeeded", ok)
	}
}

func TestVerifyRecoveryCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	_, rc := f.enrol(t)
	if m, err := f.a.Verify(ctx, f.store, "u1", rc[3]); err != nil || m != MethodRecovery {
		t.Fatalf("recovery code: %v %v", m, err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", rc[3]); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("recovery code used twice: %v", err)
	}
	// Typed in upper case without hyphens, another one works.
	if _, err := f.a.Verify(ctx, f.store, "u1", strings.ToUpper(strings.ReplaceAll(rc[4], "-", ""))); err != nil {
		t.Errorf("recovery code in upper case: %v", err)
	}
	if n := len(f.user(t).TOTP.RecoveryCodes); n != RecoveryCodeCount-2 {
		t.Errorf("%d recovery codes left, want %d", n, RecoveryCodeCount-2)
	}
	fresh, err := f.a.NewRecoveryCodes(ctx, f.store, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", rc[5]); !errors.Is(err, ErrInvalidCode) {
		t.Errorf("an old recovery code still works after new ones were made: %v", err)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", fresh[0]); err != nil {
		t.Errorf("new recovery code: %v", err)
	}
}

func TestVerifyThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	secret, _ := f.enrol(t)
	next := func() string {
		f.clock.Advance(Period * time.Second)
		return code(t, secret, f.clock.Now())
	}
	wrong := func() string { // the current code with its last digit changed
		c := code(t, secret, f.clock.Now())
		return c[:5] + string('0'+(c[5]-'0'+1)%10)
	}
	// Malformed input is not a guess: nothing is counted.
	for range 10 {
		if _, err := f.a.Verify(ctx, f.store, "u1", "nonsense"); !errors.Is(err, ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	if n := f.user(t).TOTP.Failures; n != 0 {
		t.Fatalf("malformed input counted %d failures", n)
	}
	for i := 1; i < FreeFailures; i++ {
		if _, err := f.a.Verify(ctx, f.store, "u1", wrong()); !errors.Is(err, ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	// Below the threshold a correct code still works and resets the count.
	if _, err := f.a.Verify(ctx, f.store, "u1", next()); err != nil {
		t.Fatalf("correct code before the threshold: %v", err)
	}
	if u := f.user(t); u.TOTP.Failures != 0 {
		t.Fatalf("failures not reset: %d", u.TOTP.Failures)
	}
	for range FreeFailures {
		if _, err := f.a.Verify(ctx, f.store, "u1", wrong()); !errors.Is(err, ErrInvalidCode) {
			t.Fatal(err)
		}
	}
	u := f.user(t)
	if u.TOTP.Failures != FreeFailures || !u.TOTP.LockedUntil.Equal(f.clock.Now().Add(Backoff(FreeFailures))) {
		t.Fatalf("after %d failures: %+v", FreeFailures, u.TOTP)
	}
	// Locked: even the right code is refused, and nothing is counted.
	c := code(t, secret, f.clock.Now().Add(Period*time.Second))
	if _, err := f.a.Verify(ctx, f.store, "u1", c); !errors.Is(err, ErrThrottled) || !errors.Is(err, ErrRejected) {
		t.Fatalf("correct code while locked: %v", err)
	}
	if f.user(t).TOTP.Failures != FreeFailures {
		t.Errorf("an attempt while locked was counted")
	}
	// One more failure after the wait doubles it.
	f.clock.Advance(Backoff(FreeFailures))
	if _, err := f.a.Verify(ctx, f.store, "u1", wrong()); !errors.Is(err, ErrInvalidCode) {
		t.Fatal(err)
	}
	if u := f.user(t); !u.TOTP.LockedUntil.Equal(f.clock.Now().Add(Backoff(FreeFailures + 1))) {
		t.Errorf("second lock until %s, want %s", u.TOTP.LockedUntil, f.clock.Now().Add(Backoff(FreeFailures+1)))
	}
	f.clock.Advance(Backoff(FreeFailures + 1))
	if _, err := f.a.Verify(ctx, f.store, "u1", next()); err != nil {
		t.Fatalf("correct code after the wait: %v", err)
	}
	if u := f.user(t); u.TOTP.Failures != 0 || !u.TOTP.LockedUntil.IsZero() {
		t.Errorf("throttle not cleared: %+v", u.TOTP)
	}
}

func TestResetMFA(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	_, rc := f.enrol(t)
	if err := ResetMFA(ctx, f.store, "u1"); err != nil {
		t.Fatal(err)
	}
	u := f.user(t)
	if u.TOTP.Enrolled() || len(u.TOTP.RecoveryCodes) != 0 || u.Username != "alice" {
		t.Fatalf("after reset: %+v", u)
	}
	if _, err := f.a.Verify(ctx, f.store, "u1", rc[0]); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("recovery code after reset: %v", err)
	}
	if err := ResetMFA(ctx, f.store, "u1"); err != nil {
		t.Errorf("second reset: %v", err)
	}
	if err := ResetMFA(ctx, f.store, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("reset of an unknown user: %v", err)
	}
}

// TestPendingSecretBelongsToItsSession: a secret shown to one session (someone
// who briefly held the password) is neither shown to nor confirmed by another,
// and ClearPending forgets it.
func TestPendingSecretBelongsToItsSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	planted, err := f.a.BeginEnrolment(ctx, f.store, "u1", "attacker-sid", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.a.PendingEnrolment(ctx, f.store, "u1", "victim-sid"); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("another session sees the pending secret: %v", err)
	}
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "victim-sid", code(t, planted.Secret, f.clock.Now())); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("another session confirmed the planted secret: %v", err)
	}
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "", code(t, planted.Secret, f.clock.Now())); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("no session confirmed the planted secret: %v", err)
	}
	own, err := f.a.BeginEnrolment(ctx, f.store, "u1", "victim-sid", true)
	if err != nil {
		t.Fatal(err)
	}
	if own.Secret == planted.Secret {
		t.Fatal("the victim's session was shown the planted secret")
	}
	// The attacker's secret is gone: replaced by the victim's.
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "attacker-sid", code(t, planted.Secret, f.clock.Now())); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("the planted secret still confirms: %v", err)
	}
	if _, err := f.store.UpdateUser(ctx, "u1", func(u *storage.User) error { ClearPending(&u.TOTP); return nil }); err != nil {
		t.Fatal(err)
	}
	if u := f.user(t); len(u.TOTP.PendingSecret) != 0 || u.TOTP.PendingSID != "" || !u.TOTP.PendingSince.IsZero() {
		t.Fatalf("ClearPending left %+v", u.TOTP)
	}
	if _, err := f.a.ConfirmEnrolment(ctx, f.store, "u1", "victim-sid", code(t, own.Secret, f.clock.Now())); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("a cleared secret confirms: %v", err)
	}
}
