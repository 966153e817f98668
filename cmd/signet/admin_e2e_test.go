package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/storage"
)

// serveAdminSocket serves the issuer's admin service on its socket, as serve does,
// and returns a CLI runner with a config file for the same data directory.
func serveAdminSocket(t *testing.T, ti *testIssuer) func(args ...string) (int, string, string) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "signet.yaml")
	yaml := "issuer: " + ti.URL + "\nlisten: " + strings.TrimPrefix(ti.URL, "http://") + "\ndata_dir: " + ti.srv.cfg.DataDir +
		"\npasswords:\n  argon2_memory_kib: 8192\n  argon2_iterations: 1\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(ti.srv.cfg.DataDir, socketFileName)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- admin.ListenAndServe(ctx, sock, admin.NewHandler(ti.srv.admin, nil)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	// Wait until it answers: a socket that never does fails the test here,
	// rather than send the CLI to a database the issuer holds locked.
	c, err := admin.WaitDial(sock, done, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"--config", cfgPath}, args...), strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
}

func TestUserMFAResetWhileServing(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	cli := serveAdminSocket(t, ti)
	u, err := ti.srv.store.GetUserByUsername(ti.Ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ti.srv.store.UpdateUser(ti.Ctx, u.ID, func(u *storage.User) error {
		u.TOTP = storage.TOTP{Secret: []byte("sealed"), EnrolledAt: time.Now(), RecoveryCodes: []string{"x"}, Failures: 2}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli("user", "mfa", "reset", "alice"); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("user mfa reset: %d %q %q", code, out, errs)
	}
	u, _ = ti.srv.store.GetUserByUsername(ti.Ctx, "alice")
	if u.TOTP.Enrolled() || len(u.TOTP.RecoveryCodes) != 0 || u.TOTP.Failures != 0 {
		t.Fatalf("TOTP state after reset: %+v", u.TOTP)
	}
	if code, _, errs := cli("user", "mfa", "reset", "nobody"); code == 0 || !strings.Contains(errs, "nobody") {
		t.Fatalf("reset of an unknown user: %d %q", code, errs)
	}
}
