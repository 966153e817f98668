package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// small keeps the tests fast: argon2id with 256 KiB and one pass.
var small = Params{MemoryKiB: 256, Iterations: 1, Parallelism: 1}

func TestHashVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := New(small, 2)
	for _, pw := range []string{"correct horse battery staple", "", "ünïcødé pässwörd", strings.Repeat("x", MaxLength)} {
		enc, err := h.Hash(ctx, pw)
		if err != nil {
			t.Fatalf("Hash: %v", err)
		}
		if !strings.HasPrefix(enc, "$argon2id$v=19$m=256,t=1,p=1$") {
			t.Fatalf("Hash = %q, want the PHC prefix with the current params", enc)
		}
		ok, rehash, err := h.Verify(ctx, enc, pw)
		if err != nil || !ok || rehash {
			t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
		}
		ok, _, err = h.Verify(ctx, enc, "!"+pw[min(1, len(pw)):])
		if err != nil || ok {
			t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
		}
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	t.Parallel()
	h := New(small, 1)
	a, _ := h.Hash(context.Background(), "same")
	b, _ := h.Hash(context.Background(), "same")
	if a == b {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

// TestReferenceVector checks compatibility with the reference implementation's
// encoding (argon2 CLI: echo -n password | argon2 somesalt -id -t 2 -m 16 -p 4 -l 32 -e).
func TestReferenceVector(t *testing.T) {
	t.Parallel()
	const enc = "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo"
	h := New(small, 1)
	ok, rehash, err := h.Verify(context.Background(), enc, "password")
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(reference) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestParamChangeNeedsRehash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := New(small, 1)
	enc, err := old.Hash(ctx, "s3cret-password")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{
		{MemoryKiB: 512, Iterations: 1, Parallelism: 1},
		{MemoryKiB: 256, Iterations: 2, Parallelism: 1},
		{MemoryKiB: 256, Iterations: 1, Parallelism: 2},
	} {
		ok, rehash, err := New(p, 1).Verify(ctx, enc, "s3cret-password")
		if err != nil || !ok || !rehash {
			t.Errorf("params %+v: Verify = %v, %v, %v; want true, true, nil", p, ok, rehash, err)
		}
	}
	// A wrong password never asks for a rehash.
	ok, rehash, err := New(Params{MemoryKiB: 512, Iterations: 1, Parallelism: 1}, 1).Verify(ctx, enc, "wrong")
	if err != nil || ok || rehash {
		t.Errorf("wrong password: Verify = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

func TestBcryptImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := New(small, 1)
	b, err := bcrypt.GenerateFromPassword([]byte("imported-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(b[4:])
		ok, rehash, err := h.Verify(ctx, enc, "imported-password")
		if err != nil || !ok || !rehash {
			t.Errorf("%s: Verify(right) = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(ctx, enc, "imported-passwore")
		if err != nil || ok || rehash {
			t.Errorf("%s: Verify(wrong) = %v, %v, %v; want false, false, nil", prefix, ok, rehash, err)
		}
	}
	// A bcrypt cost that would stall the server is refused, not run.
	slow := "$2a$31$" + string(b[7:])
	if _, _, err := h.Verify(ctx, slow, "imported-password"); !errors.Is(err, ErrMalformed) {
		t.Errorf("cost 31: err = %v, want ErrMalformed", err)
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	h := New(small, 1)
	good, _ := h.Hash(context.Background(), "pw")
	for _, enc := range []string{
		"",
		"plain",
		"$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=256,t=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=256,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=256,t=1,p=0$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=256,t=1,p=256$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999999,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=-1,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=256,t=1,p=1$c29tZQ$aGFzaGhhc2hoYXNoaGFzaA",             // salt too short
		"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaA",                   // hash too short
		"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0==$aGFzaGhhc2hoYXNoaGFzaA", // padding
		"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA$",  // trailing
		"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA!",  // not base64
		"$argon2id$v=19$m=256,t=1,p=1$$aGFzaGhhc2hoYXNoaGFzaA",                   // empty salt
		"$2a$", // bcrypt too short
		"$2a$xx$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234", // bad cost
		good[:len(good)-1] + "!", // corrupted
	} {
		ok, rehash, err := h.Verify(context.Background(), enc, "pw")
		if ok || rehash || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v, %v; want false, false, ErrMalformed", enc, ok, rehash, err)
		}
	}
}

func TestTooLong(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := New(small, 1)
	enc, _ := h.Hash(ctx, "pw")
	long := strings.Repeat("a", MaxLength+1)
	if _, err := h.Hash(ctx, long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash: err = %v, want ErrTooLong", err)
	}
	if ok, _, err := h.Verify(ctx, enc, long); ok || !errors.Is(err, ErrTooLong) {
		t.Errorf("Verify: %v, %v; want false, ErrTooLong", ok, err)
	}
	if ok, err := h.VerifyDummy(ctx, long); ok || !errors.Is(err, ErrTooLong) {
		t.Errorf("VerifyDummy: %v, %v; want false, ErrTooLong", ok, err)
	}
	if strings.Contains(ErrTooLong.Error(), "aaaa") {
		t.Error("error contains the password")
	}
}

func TestVerifyDummy(t *testing.T) {
	t.Parallel()
	h := New(small, 1)
	var hashes atomic.Int32
	h.testHook = func(start bool) {
		if start {
			hashes.Add(1)
		}
	}
	for _, pw := range []string{"", "password", "anything"} {
		ok, err := h.VerifyDummy(context.Background(), pw)
		if ok || err != nil {
			t.Fatalf("VerifyDummy(%q) = %v, %v; want false, nil", pw, ok, err)
		}
	}
	if n := hashes.Load(); n != 3 {
		t.Errorf("VerifyDummy ran %d hashes, want 3 (one each, like a real Verify)", n)
	}
	// The dummy uses the current parameters, so it costs what a real hash costs.
	d, err := decode(h.dummy)
	if err != nil || d.params != h.params || len(d.salt) != saltLen || len(d.key) != keyLen {
		t.Errorf("dummy %q: %+v, %v; want current params and sizes", h.dummy, d, err)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	if got := New(Params{}, 0).Params(); got != DefaultParams {
		t.Errorf("New(zero).Params() = %+v, want %+v", got, DefaultParams)
	}
	// argon2 raises memory to 8 KiB per lane: the encoded params must say so.
	h := New(Params{MemoryKiB: 8, Iterations: 1, Parallelism: 4}, 1)
	if got := h.Params().MemoryKiB; got != 32 {
		t.Errorf("MemoryKiB = %d, want 32", got)
	}
	enc, err := h.Hash(context.Background(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := h.Verify(context.Background(), enc, "pw"); !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestConcurrencyBound(t *testing.T) {
	t.Parallel()
	const limit = 2
	h := New(small, limit)
	enc, _ := h.Hash(context.Background(), "pw")
	var cur, peak atomic.Int32
	h.testHook = func(start bool) {
		if !start {
			cur.Add(-1)
			return
		}
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if ok, _, err := h.Verify(context.Background(), enc, "pw"); !ok || err != nil {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p < 1 || p > limit {
		t.Errorf("peak concurrent hashes = %d, want 1..%d", p, limit)
	}
}

func TestBusy(t *testing.T) {
	t.Parallel()
	h := New(small, 1)
	enc, _ := h.Hash(context.Background(), "pw")

	// Occupy the only slot, as a long hash would.
	h.sem <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := h.Verify(ctx, enc, "pw")
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify while full: err = %v, want ErrBusy wrapping DeadlineExceeded", err)
	}
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash while full: err = %v, want ErrBusy", err)
	}
	if _, err := h.VerifyDummy(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy while full: err = %v, want ErrBusy", err)
	}

	// A waiter gets the slot as soon as it is released.
	done := make(chan error, 1)
	go func() {
		_, _, err := h.Verify(context.Background(), enc, "pw")
		done <- err
	}()
	<-h.sem
	if err := <-done; err != nil {
		t.Errorf("Verify after release: %v", err)
	}

	// A context that has already ended starts no hash, even with a free slot.
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, _, err := h.Verify(cancelled, enc, "pw"); !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with cancelled ctx: err = %v, want ErrBusy wrapping Canceled", err)
	}
	if len(h.sem) != 0 {
		t.Errorf("%d slots still held", len(h.sem))
	}
}

func FuzzVerify(f *testing.F) {
	h := New(small, 1)
	good, _ := h.Hash(context.Background(), "pw")
	b, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	for _, s := range []string{
		good,
		string(b),
		"$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$GpZ3sK/oH9p7VIiV56G/64Zo/8GaUw434IimaPqxwCo",
		"$argon2id$v=19$m=256,t=1,p=1$$",
		"$argon2id$v=19$m=,t=,p=$c29tZXNhbHQ$",
		"$argon2id$$$$$",
		"$2y$04$" + strings.Repeat("a", 53),
		"$2b$99$",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		// The parser alone, on anything.
		d, err := decode(enc)
		if err == nil {
			if d.params.Iterations < 1 || d.params.Parallelism < 1 || d.params.MemoryKiB < 8*uint32(d.params.Parallelism) {
				t.Fatalf("decode(%q) accepted params %+v", enc, d.params)
			}
			if again := encode(d.params, d.salt, d.key); again != enc {
				t.Fatalf("decode(%q) accepted a non-canonical string (re-encodes as %q)", enc, again)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decode(%q): %v is not ErrMalformed", enc, err)
		}
		// Verify end to end, when that stays cheap.
		if err == nil && uint64(d.params.MemoryKiB)*uint64(d.params.Iterations) > 1<<16 {
			return
		}
		if isBcrypt(enc) {
			if cost, err := bcrypt.Cost([]byte(enc)); err == nil && cost > bcrypt.MinCost {
				return
			}
		}
		ok, rehash, err := h.Verify(context.Background(), enc, "pw")
		if err != nil && (ok || rehash) {
			t.Fatalf("Verify(%q) = %v, %v, %v: ok or rehash with an error", enc, ok, rehash, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("Verify(%q): %v is not ErrMalformed", enc, err)
		}
	})
}

// TestQueueBound: with every slot taken, at most maxWaiting callers wait; the
// next is turned away at once rather than growing the queue.
func TestQueueBound(t *testing.T) {
	t.Parallel()
	h := New(small, 1)
	h.maxWaiting = 16
	enc, _ := h.Hash(context.Background(), "pw")
	h.sem <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { h.Verify(ctx, enc, "pw") })
	}
	for h.waiting.Load() < 16 {
		runtime.Gosched()
	}
	// No deadline: only the queue bound can answer this call.
	_, _, err := h.Verify(context.Background(), enc, "pw")
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("17th waiter: err = %v, want ErrBusy", err)
	}
	cancel()
	wg.Wait()
	<-h.sem
	if ok, _, err := h.Verify(context.Background(), enc, "pw"); !ok || err != nil {
		t.Fatalf("after the flood: %v %v", ok, err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	h := New(Params{MemoryKiB: 8, Iterations: 1, Parallelism: 1}, 1)
	good, err := h.Hash(t.Context(), "a password")
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{
		good,
		// Authelia's documented argon2id and a bcrypt of cost 10.
		"$argon2id$v=19$m=65536,t=3,p=4$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM",
		"$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	} {
		if err := Check(enc); err != nil {
			t.Errorf("Check(%q) = %v", enc, err)
		}
	}
	for _, enc := range []string{"", "plain", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "$2b$99$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", "$2b$10$short"} {
		if err := Check(enc); !errors.Is(err, ErrMalformed) {
			t.Errorf("Check(%q) = %v, want ErrMalformed", enc, err)
		}
	}
}
