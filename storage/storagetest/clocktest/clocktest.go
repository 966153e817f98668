// Package clocktest is the settable clock that tests hand to the components
// that take their time as a dependency (a Now func() time.Time): the tests
// move it instead of sleeping. It is safe for the goroutines of the handlers
// and loops under test.
//
// It lives beside the storage conformance suite only because the top level of
// the module is fixed; it imports nothing of ours, so any package's tests may
// use it without adding to the import graph of the code they test.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a time source that stands still until a test moves it.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock showing t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass the method value as a component's Now.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d (back, if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
