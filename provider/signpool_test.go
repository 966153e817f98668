package provider

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// Every job runs, and a job never waits for another: more jobs than workers
// block at once here, and each must start before any is let go.
func TestGoSignNeverQueues(t *testing.T) {
	n := 4*runtime.GOMAXPROCS(0) + 8
	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(n)
	finished.Add(n)
	for range n {
		goSign(func() {
			defer finished.Done()
			started.Done()
			<-release
		})
	}
	done := make(chan struct{})
	go func() { started.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("jobs waited for other jobs to finish")
	}
	close(release)
	finished.Wait()

	// The workers are free again and take the next jobs.
	ran := make(chan int, n)
	for i := range n {
		goSign(func() { ran <- i })
	}
	seen := map[int]bool{}
	for range n {
		seen[<-ran] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct jobs ran, want %d", len(seen), n)
	}
}
