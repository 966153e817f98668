package storagetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var assertionTests = []test{
	{"Once", testAssertionJTIOnce},
	{"Concurrent", testAssertionJTIConcurrent},
	{"Expiry", testAssertionJTIExpiry},
}

// testAssertionJTIOnce: a client's jti is accepted once; another client's
// equal jti is its own.
func testAssertionJTIOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	exp := t0.Add(time.Minute)
	must(t, s.UseAssertionJTI(ctx, "c1", "j1", exp))
	wantErr(t, s.UseAssertionJTI(ctx, "c1", "j1", exp), storage.ErrReused, "second use of a jti")
	wantErr(t, s.UseAssertionJTI(ctx, "c1", "j1", exp.Add(time.Hour)), storage.ErrReused, "second use with another exp")
	must(t, s.UseAssertionJTI(ctx, "c2", "j1", exp))
	must(t, s.UseAssertionJTI(ctx, "c1", "j2", exp))
	if err := s.UseAssertionJTI(ctx, "c1", "", exp); err == nil {
		t.Error("an empty jti was recorded")
	}
}

// testAssertionJTIConcurrent: of many uses of one jti at once, exactly one is
// accepted (a replay racing the original must not pass).
func testAssertionJTIConcurrent(t *testing.T, s storage.Store) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = s.UseAssertionJTI(t.Context(), "c1", "raced", t0.Add(time.Minute)) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, storage.ErrReused):
			t.Errorf("concurrent use: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d concurrent uses of one jti accepted, want 1", ok, n)
	}
}

// testAssertionJTIExpiry: DeleteExpired drops a used jti once its assertion
// has expired (it would be refused for its exp anyway), and keeps live ones.
func testAssertionJTIExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, j := range []string{"old1", "old2", "old3"} {
		must(t, s.UseAssertionJTI(ctx, "c1", j, t0.Add(-time.Minute)))
	}
	must(t, s.UseAssertionJTI(ctx, "c1", "live", t0.Add(time.Minute)))
	total, _ := janitor(t, s, t0, 2)
	if total != 3 {
		t.Errorf("DeleteExpired removed %d records, want the 3 expired jtis", total)
	}
	must(t, s.UseAssertionJTI(ctx, "c1", "old1", t0.Add(time.Minute)))
	wantErr(t, s.UseAssertionJTI(ctx, "c1", "live", t0.Add(time.Minute)), storage.ErrReused, "a live jti after DeleteExpired")
	janitor(t, s, t0.Add(time.Hour), 10)
	must(t, s.UseAssertionJTI(ctx, "c1", "live", t0.Add(2*time.Hour)))
}
