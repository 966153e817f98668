package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// exercisePeople drives the commands of issue 17 through the CLI contract.
func exercisePeople(t *testing.T, e *cliEnv) {
	t.Helper()
	pw := "a long enough password\n"
	e.ok(pw, "user", "add", "kim", "--email", "kim@example.com", "--email-verified", "--password-stdin")
	u := decodeJSON[admin.UserInfo](t, e.ok("", "user", "show", "kim", "--output", "json"))
	if !u.EmailVerified || u.Email != "kim@example.com" || u.Groups == nil || len(u.Groups) != 0 {
		t.Fatalf("user show after add --email-verified: %+v", u)
	}
	e.fails("already used", pw, "user", "add", "kim2", "--email", "KIM@example.com", "--password-stdin")

	// Groups.
	e.ok("", "group", "add", "admins", "--description", "Site administrators")
	e.ok("", "group", "add", "ops")
	e.fails("already exists", "", "group", "add", "Admins")
	e.fails("not found", "", "user", "add-group", "kim", "nosuch")
	out := e.ok("", "user", "add-group", "kim", "admins", "ops")
	if !strings.Contains(out, "admins, ops") {
		t.Errorf("add-group: %q", out)
	}
	g := decodeJSON[admin.GroupInfo](t, e.ok("", "group", "show", "admins", "--output", "json"))
	if len(g.Members) != 1 || g.Members[0] != "kim" || g.Description != "Site administrators" {
		t.Errorf("group show: %+v", g)
	}
	if out := e.ok("", "group", "list"); !strings.Contains(out, "admins") || !strings.Contains(out, "ops") {
		t.Errorf("group list: %q", out)
	}
	if out := e.ok("", "user", "show", "kim"); !strings.Contains(out, "admins, ops") || !strings.Contains(out, "email verified: yes") {
		t.Errorf("user show: %q", out)
	}
	e.ok("", "user", "remove-group", "kim", "ops")
	e.fails("not in group", "", "user", "remove-group", "kim", "ops")

	// A changed email is unverified unless said otherwise.
	u = decodeJSON[admin.UserInfo](t, e.ok("", "user", "update", "kim", "--email", "kim@new.example.com", "--output", "json"))
	if u.EmailVerified || u.Email != "kim@new.example.com" {
		t.Errorf("after an email change: %+v", u)
	}
	u = decodeJSON[admin.UserInfo](t, e.ok("", "user", "update", "kim", "--email-verified=true", "--name", "Kim K", "--output", "json"))
	if !u.EmailVerified || u.Name != "Kim K" {
		t.Errorf("after update --email-verified=true --name: %+v", u)
	}
	e.fails("nothing to change", "", "user", "update", "kim")
	e.ok("", "user", "disable", "kim")
	e.ok("", "user", "enable", "kim")
	if u := decodeJSON[admin.UserInfo](t, e.ok("", "user", "show", "kim", "--output", "json")); u.Disabled {
		t.Error("user enable left the person disabled")
	}

	// Clients that change in place.
	e.ok("", "client", "add", "--id", "svc", "--name", "Service", "--redirect-uri", "https://svc.example.com/cb", "--allowed-group", "admins")
	e.fails("not found", "", "client", "add", "--id", "svc2", "--name", "S", "--redirect-uri", "https://s.example.com/cb", "--allowed-group", "nosuch")
	e.fails("allowed group of client svc", "", "group", "remove", "admins")
	c := decodeJSON[admin.ClientInfo](t, e.ok("", "client", "update", "svc", "--name", "Service 2", "--add-redirect-uri", "https://svc.example.com/cb2",
		"--remove-redirect-uri", "https://svc.example.com/cb", "--require-mfa", "--id-token-alg", "ES256", "--add-allowed-group", "ops", "--output", "json"))
	if c.Name != "Service 2" || len(c.RedirectURIs) != 1 || c.RedirectURIs[0] != "https://svc.example.com/cb2" || !c.RequireMFA ||
		c.IDTokenAlg != "ES256" || len(c.AllowedGroups) != 2 {
		t.Errorf("client update: %+v", c)
	}
	e.fails("at least one redirect URI", "", "client", "update", "svc", "--remove-redirect-uri", "https://svc.example.com/cb2")
	e.fails("has no redirect URI", "", "client", "update", "svc", "--remove-redirect-uri", "https://nope.example.com/cb")
	e.fails("cannot change between public and confidential", "", "client", "update", "svc", "--public")
	e.fails("https", "", "client", "update", "svc", "--add-redirect-uri", "http://svc.example.com/cb")
	out = e.ok("", "client", "update", "svc", "--remove-allowed-group", "admins", "--remove-allowed-group", "ops")
	if !strings.Contains(out, "everyone may sign in") {
		t.Errorf("removing the last allowed group: %q", out)
	}
	rot := decodeJSON[admin.SecretRotated](t, e.ok("", "client", "rotate-secret", "svc", "--keep-old", "1h", "--output", "json"))
	if rot.ClientSecret == "" || rot.OldSecretEnd.IsZero() {
		t.Errorf("rotate-secret --keep-old: %+v", rot)
	}
	if out := e.ok("", "client", "rotate-secret", "svc"); !strings.Contains(out, "client_secret:") || !strings.Contains(out, "old secret no longer works") {
		t.Errorf("rotate-secret: %q", out)
	}

	// Removing a group takes its members out; removing a person deletes them.
	e.ok("", "group", "remove", "admins")
	if u := decodeJSON[admin.UserInfo](t, e.ok("", "user", "show", "kim", "--output", "json")); len(u.Groups) != 0 {
		t.Errorf("groups after group remove: %v", u.Groups)
	}
	if out := e.ok("", "user", "remove", "kim"); !strings.Contains(out, "Removed user kim") {
		t.Errorf("user remove: %q", out)
	}
	e.fails("not found", "", "user", "show", "kim")
	// The email is free again.
	e.ok(pw, "user", "add", "kim3", "--email", "kim@new.example.com", "--password-stdin")
}

func TestCLIPeopleDirect(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	initDataDir(t, e)
	exercisePeople(t, e)
}

// initDataDir creates e's data directory as `signet serve` does on its first
// start (management commands never create one).
func initDataDir(t *testing.T, e *cliEnv) {
	t.Helper()
	cfg, err := LoadConfig(e.config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(t.Context(), cfg, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.store.Close()
}

func TestCLIPeopleThroughAdminSocket(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	serveAdmin(t, e)
	exercisePeople(t, e)
}

// TestEmbeddedOnlyCommandsWithPostgres: backup, restore and compact work on the
// bbolt file; with storage.type postgres they say what to use instead.
func TestEmbeddedOnlyCommandsWithPostgres(t *testing.T) {
	setSharedSecrets(t)
	cfg := writeFile(t, "signet.yaml", "storage:\n  type: postgres\n  dsn: postgres://signet@127.0.0.1:1/signet\n")
	for _, args := range [][]string{{"backup", filepath.Join(t.TempDir(), "b.tar.gz")}, {"restore", "nothing.tar.gz"}, {"compact"}} {
		r := runCLI(t, "", append([]string{"--config", cfg}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "storage.type postgres") {
			t.Errorf("signet %s with postgres: exit %d, %q", args[0], r.code, r.stderr)
		}
	}
}
