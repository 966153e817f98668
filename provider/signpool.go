package provider

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// signWorkers sign token responses: one long-lived worker per CPU, fed from a
// queue.
//
// Long-lived, because a new goroutine starts with a small stack that an RSA or
// ECDSA signature grows several times over, copying it each time (4-5 % of the
// server's CPU per refresh with a goroutine per response).
//
// One per CPU, because signing is CPU-bound: more signers at once sign no
// faster, but they fill the scheduler's run queues with millisecond-long jobs
// (an RS256 response is two 1 ms signatures), and everything short that a
// response waits for queues behind them: the group commit's goroutine back
// from its fdatasync, the handlers that write the answers of a finished
// commit. With a goroutine per response that queue held up to one signing per
// request in flight, so commits finished late while answers already signed
// waited on them and the CPU idled between groups (BENCHMARKS.md, issue 14).
var signWorkers struct {
	once    sync.Once
	jobs    chan func()
	n       int32        // workers
	running atomic.Int32 // workers running a job
}

// signQueue bounds the jobs waiting for a worker; it is far above the
// responses a server has in flight.
const signQueue = 4096

// goSign runs f on a signing worker, in the order jobs arrive. When the queue is
// full it runs f on a goroutine of its own rather than block the request. It
// reports whether f had to queue behind other jobs: the CPUs are busy signing.
func goSign(f func()) (queued bool) {
	signWorkers.once.Do(func() {
		signWorkers.jobs = make(chan func(), signQueue)
		signWorkers.n = int32(runtime.GOMAXPROCS(0))
		for range signWorkers.n {
			go func() {
				for f := range signWorkers.jobs {
					signWorkers.running.Add(1)
					f()
					signWorkers.running.Add(-1)
					// Let whatever became runnable during the job (a commit
					// back from its sync, a handler with its answer) run
					// before the next signature: a worker with a full queue
					// never blocks, so it would otherwise hold its CPU
					// until the scheduler preempts it, 10 ms later.
					runtime.Gosched()
				}
			}()
		}
	})
	queued = len(signWorkers.jobs) > 0 || signWorkers.running.Load() >= signWorkers.n
	select {
	case signWorkers.jobs <- f:
	default:
		go f()
	}
	return queued
}
