package provider

import (
	"runtime"
	"sync"
)

// signWorkers run the signing of token responses on goroutines that live across
// requests. A new goroutine starts with a small stack that an RSA or ECDSA
// signature grows several times over, copying it each time: with a goroutine
// per response that was 4-5 % of the server's CPU per refresh
// (runtime.newstack in the profile). A worker's stack has grown once.
var signWorkers struct {
	once sync.Once
	jobs chan func()
}

// goSign runs f on an idle signing worker, or on a new goroutine when every
// worker is busy: a response never waits for another's signature.
func goSign(f func()) {
	signWorkers.once.Do(func() {
		signWorkers.jobs = make(chan func()) // unbuffered: a send succeeds only into an idle worker
		// Signing is CPU-bound, so a few per CPU cover the responses signing at once.
		for range 4 * runtime.GOMAXPROCS(0) {
			go func() {
				for f := range signWorkers.jobs {
					f()
				}
			}()
		}
	})
	select {
	case signWorkers.jobs <- f:
	default:
		go f()
	}
}
