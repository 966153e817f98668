package provider

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every job runs, and no more run at once than there are CPUs: signing is
// CPU-bound, and more signers at once would only delay the short work a
// response waits for.
func TestGoSignRunsEveryJobOnePerCPU(t *testing.T) {
	n := 8*runtime.GOMAXPROCS(0) + 3
	var running, most atomic.Int32
	var wg sync.WaitGroup
	wg.Add(n)
	ran := make(chan int, n)
	for i := range n {
		goSign(func() {
			defer wg.Done()
			now := running.Add(1)
			for {
				m := most.Load()
				if now <= m || most.CompareAndSwap(m, now) {
					break
				}
			}
			time.Sleep(time.Millisecond) // long enough for the jobs to overlap if they could
			running.Add(-1)
			ran <- i
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("signing jobs did not all run")
	}
	seen := map[int]bool{}
	for range n {
		seen[<-ran] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct jobs ran, want %d", len(seen), n)
	}
	if m := most.Load(); m > int32(runtime.GOMAXPROCS(0)) {
		t.Fatalf("%d jobs ran at once, want at most GOMAXPROCS=%d", m, runtime.GOMAXPROCS(0))
	}
}

// A job reports that it queued exactly when every worker is busy or other jobs
// wait: the token endpoint then lets its write wait for the signing to start.
func TestGoSignReportsQueueing(t *testing.T) {
	// Let earlier jobs of this package finish first (the workers are shared).
	idle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for signWorkers.running.Load() != 0 || len(signWorkers.jobs) != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the signing workers never became idle")
			}
			time.Sleep(time.Millisecond)
		}
	}
	goSign(func() {})
	idle()
	if goSign(func() {}) {
		t.Fatal("a job on idle workers reported queueing")
	}
	idle()
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(int(signWorkers.n))
	for range signWorkers.n {
		goSign(func() { started.Done(); <-release })
	}
	started.Wait()
	if !goSign(func() {}) {
		t.Fatal("a job behind busy workers did not report queueing")
	}
	close(release)
	idle()
}
