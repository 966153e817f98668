// Command signet is an OpenID Connect provider: `signet serve` runs it, and the
// other commands manage its people, relying parties and keys, directly on the
// database when no server runs, or through the running server's admin socket.
//
// Every failure prints one line, "signet: <reason>", to standard error and exits 1;
// a command line naming an unknown command or flag exits 2.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "signet: %s\n", oneLine(err.Error()))
		if isUsageError(err) {
			return 2
		}
		return 1
	}
	return 0
}
