package admin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// A backup through the socket is a bbolt file with what the server holds, and
// the audit lines of additions name what they added.
func TestBackupOverSocketAndAudit(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	svc, st, _ := newTestService(t, logTo(&logs))
	sock := filepath.Join(t.TempDir(), "admin.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ListenAndServe(ctx, sock, NewHandler(svc, st.(storage.Backupper))) }()
	t.Cleanup(func() { cancel(); <-done })
	c := waitDial(t, sock, done)
	defer c.Close()

	if _, err := AddUser.Call(ctx, c, AddUserInput{Username: "kim", Email: "kim@example.com", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if _, err := AddClient.Call(ctx, c, AddClientInput{ID: "app", Name: "App", RedirectURIs: []string{"https://app.example/cb"}}); err != nil {
		t.Fatal(err)
	}
	// Reads are not audited, but an export that can hand out password
	// hashes is.
	if _, err := ListUsers.Call(ctx, c, None{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ExportUsers.Call(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "action=user/list") {
		t.Errorf("a plain read was audited:\n%s", logs.String())
	}
	for _, want := range []string{"action=user/add username=kim result=ok", "action=client/add client=app result=ok",
		"action=user/export with_password_hashes=true result=ok"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("audit log lacks %q:\n%s", want, logs.String())
		}
	}

	path := filepath.Join(t.TempDir(), "copy.db")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.Backup(ctx, f)
	f.Close()
	if err != nil || n == 0 {
		t.Fatalf("Backup: %d bytes, %v", n, err)
	}
	copyStore, err := boltstore.Open(path, boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer copyStore.Close()
	if u, err := copyStore.GetUserByUsername(ctx, "kim"); err != nil || u.Email != "kim@example.com" {
		t.Errorf("the copy lacks kim: %v %v", u, err)
	}

	// A server without the backup endpoint answers a clean error.
	plain, _ := serveSocket(t, svc)
	if _, err := plain.Backup(ctx, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "no such admin API endpoint") {
		t.Errorf("Backup from a handler without it: %v", err)
	}
}
