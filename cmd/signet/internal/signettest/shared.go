package signettest

import (
	"bytes"
	"log/slog"
	"os"
	"sync"
	"testing"
)

// runDir is a directory for what the tests of one run share, removed by Main.
var runDir struct {
	mu  sync.Mutex
	dir string
}

// RunDir returns a new directory that lives as long as the test run (Main
// removes it), for what tests share: a template made once, say.
func RunDir() (string, error) {
	runDir.mu.Lock()
	defer runDir.mu.Unlock()
	if runDir.dir == "" {
		d, err := os.MkdirTemp("", "signet-test-run-")
		if err != nil {
			return "", err
		}
		runDir.dir = d
	}
	return os.MkdirTemp(runDir.dir, "")
}

func removeRunDir() {
	runDir.mu.Lock()
	defer runDir.mu.Unlock()
	if runDir.dir != "" {
		os.RemoveAll(runDir.dir)
	}
}

// lockedBuffer is a buffer that the issuer's goroutines write to at once.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger is the logger of one test's issuer. It keeps what is logged and
// shows it only if the test fails: tests running side by side keep their logs
// apart, and a passing run stays quiet. Lines logged after the test are
// dropped with the buffer.
func Logger(t testing.TB) *slog.Logger {
	var buf lockedBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the issuer's log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(&buf, nil))
}
