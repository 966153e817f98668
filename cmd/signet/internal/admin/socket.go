package admin

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// shutdownTimeout bounds how long ListenAndServe waits for requests in flight.
const shutdownTimeout = 10 * time.Second

// ListenAndServe serves h on a unix socket at socketPath until ctx is done, then
// shuts down (letting requests in flight finish) and removes the socket. It returns
// nil after a shutdown caused by ctx.
//
// A socket file left by a process that died is replaced; one that answers is an error
// (another server runs), and so is any file that is not a socket. The socket is made
// in a fresh private directory next to socketPath, given mode 0600 there and only then
// linked to socketPath, so it is never reachable with looser permissions whatever the
// umask. The directory holding socketPath should be the data directory, mode 0700.
func ListenAndServe(ctx context.Context, socketPath string, h http.Handler) error {
	l, err := listen(socketPath)
	if err != nil {
		return err
	}
	// The listener's own name was the temporary one; the socket is ours to remove.
	fi, statErr := os.Lstat(socketPath)
	defer func() {
		if statErr != nil {
			return
		}
		// Remove the socket only if it is still the one we made.
		if now, err := os.Lstat(socketPath); err == nil && os.SameFile(fi, now) {
			_ = os.Remove(socketPath)
		}
	}()

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin socket %s: %w", socketPath, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("admin socket %s: shutdown: %w", socketPath, err)
	}
	return nil
}

// listen binds the socket at a temporary path inside a new 0700 directory, sets mode
// 0600, and hard-links it to socketPath (renaming where hard links are not
// supported), after clearing a stale socket from there.
func listen(socketPath string) (*net.UnixListener, error) {
	if err := removeStale(socketPath); err != nil {
		return nil, err
	}
	// A short name: a unix socket path is limited to about 100 bytes, and the
	// temporary path must fit wherever the final one does.
	dir, err := os.MkdirTemp(filepath.Dir(socketPath), ".s")
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin socket: listen: %w", err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		_ = l.Close()
		return nil, fmt.Errorf("admin socket %s: %w", socketPath, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Link(tmp, socketPath); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fail(errors.New("created by another process meanwhile; is another server starting?"))
		}
		if err := os.Rename(tmp, socketPath); err != nil {
			return fail(err)
		}
	}
	return l, nil
}

// removeStale removes a socket at path that nobody answers on. A live socket or a
// file that is not a socket is an error.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("admin socket %s: exists and is not a socket; remove it if it is not needed", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("admin socket %s: another process is serving it; is a server already running?", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		// Not provably dead (no permission, say): leave it to the operator.
		return fmt.Errorf("admin socket %s: exists and cannot be checked: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("admin socket %s: remove stale socket: %w", path, err)
	}
	return nil
}
