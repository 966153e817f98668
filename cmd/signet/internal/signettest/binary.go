package signettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/signet-idp/signet/storage/postgres/pgtest"
)

// The binary is built once per test run (every test that runs it shares it),
// into a directory Main removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Binary builds the signet command (once per test run) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if built.dir, built.err = os.MkdirTemp("", "signet-test-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "signet")
		cmd := exec.Command(goTool, "build", "-o", built.bin, "github.com/signet-idp/signet/cmd/signet")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// Main runs the tests, then removes the built binary and RunDir, closes the
// shared Chromium and stops the throwaway PostgreSQL cluster. Use it from TestMain:
// os.Exit(signettest.Main(m)).
func Main(m *testing.M) int {
	code := pgtest.Main(m)
	closeChromium()
	removeRunDir()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	return code
}
