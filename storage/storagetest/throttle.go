package storagetest

import (
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var throttleTests = []test{
	{"GetUpdateDelete", testThrottleGetUpdateDelete},
	{"Concurrent", testThrottleConcurrent},
	{"Expiry", testThrottleExpiry},
}

// testThrottleGetUpdateDelete: a counter is zero until counted, reads back as
// stored, and goes when an update leaves nothing counted.
func testThrottleGetUpdateDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	got, err := s.GetThrottle(ctx, "address:192.0.2.1")
	must(t, err)
	wantEqual(t, got, storage.Throttle{}, "a counter never counted")
	want := storage.Throttle{Failures: 3, Last: t0, LockedUntil: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)}
	stored, err := s.UpdateThrottle(ctx, "address:192.0.2.1", func(th *storage.Throttle) {
		if !th.Zero() {
			t.Errorf("update of a new counter starts from %+v", *th)
		}
		*th = want
	})
	must(t, err)
	wantEqual(t, stored, want, "UpdateThrottle's result")
	got, err = s.GetThrottle(ctx, "address:192.0.2.1")
	must(t, err)
	wantEqual(t, got, want, "the stored counter")
	other, err := s.GetThrottle(ctx, "address:192.0.2.2")
	must(t, err)
	wantEqual(t, other, storage.Throttle{}, "another key")

	_, err = s.UpdateThrottle(ctx, "address:192.0.2.1", func(th *storage.Throttle) {
		wantEqual(t, *th, want, "the counter an update starts from")
		*th = storage.Throttle{}
	})
	must(t, err)
	got, err = s.GetThrottle(ctx, "address:192.0.2.1")
	must(t, err)
	wantEqual(t, got, storage.Throttle{}, "a counter cleared")
	if _, err := s.UpdateThrottle(ctx, "", func(*storage.Throttle) {}); err == nil {
		t.Error("an empty key was accepted")
	}
}

// testThrottleConcurrent: failures counted at once (by several replicas) all
// count.
func testThrottleConcurrent(t *testing.T, s storage.Store) {
	const n = 16
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := s.UpdateThrottle(t.Context(), "account:alice", func(th *storage.Throttle) {
				th.Failures++
				th.Last, th.ExpiresAt = t0, t0.Add(time.Hour)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := s.GetThrottle(t.Context(), "account:alice")
	must(t, err)
	if got.Failures != n {
		t.Errorf("%d failures counted at once stored as %d", n, got.Failures)
	}
}

// testThrottleExpiry: DeleteExpired forgets a counter at its expiry, keeps a
// later one, and follows an expiry that an update moved.
func testThrottleExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	count := func(key string, expires time.Time) {
		t.Helper()
		_, err := s.UpdateThrottle(ctx, key, func(th *storage.Throttle) {
			th.Failures++
			th.Last, th.ExpiresAt = t0, expires
		})
		must(t, err)
	}
	count("early", t0.Add(time.Minute))
	count("late", t0.Add(time.Minute))
	count("late", t0.Add(time.Hour)) // moved past the first run
	_, err := s.DeleteExpired(ctx, t0.Add(2*time.Minute), 100)
	must(t, err)
	early, err := s.GetThrottle(ctx, "early")
	must(t, err)
	wantEqual(t, early, storage.Throttle{}, "an expired counter after DeleteExpired")
	late, err := s.GetThrottle(ctx, "late")
	must(t, err)
	if late.Failures != 2 {
		t.Errorf("a counter whose expiry moved later: %+v, want 2 failures kept", late)
	}
	_, err = s.DeleteExpired(ctx, t0.Add(2*time.Hour), 100)
	must(t, err)
	if late, _ = s.GetThrottle(ctx, "late"); !late.Zero() {
		t.Errorf("the moved counter after its own expiry: %+v", late)
	}
}
