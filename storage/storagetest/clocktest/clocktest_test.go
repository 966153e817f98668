package clocktest

import (
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %s, want %s", got, start)
	}
	// Concurrent readers and writers (run with -race) see whole values.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Advance(time.Second); _ = c.Now() })
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(10*time.Second); !got.Equal(want) {
		t.Errorf("after ten one-second advances Now() = %s, want %s", got, want)
	}
	c.Advance(-time.Hour)
	if got, want := c.Now(), start.Add(10*time.Second-time.Hour); !got.Equal(want) {
		t.Errorf("after going back an hour Now() = %s, want %s", got, want)
	}
}
