package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
)

// autheliaArgon2 hashes pw as Authelia's argon2id does, with other parameters
// than Signet's (so the sign-in must re-hash it).
func autheliaArgon2(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, 2, 16384, 2, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=16384,t=2,p=2$%s$%s", b64.EncodeToString(salt), b64.EncodeToString(key))
}

func bcryptHash(t *testing.T, pw string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportAutheliaUsersSignIn: an Authelia users file is imported; each
// person signs in with the old password (argon2id of other parameters, bcrypt),
// their hash is re-written to Signet's argon2id, and groups come along.
func TestImportAutheliaUsersSignIn(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	file := writeFile(t, "users_database.yml", `---
users:
  john:
    disabled: false
    displayname: "John Doe"
    password: "`+autheliaArgon2("john's old password")+`"
    email: john.doe@example.com
    groups:
      - admins
      - dev
  harry:
    displayname: "Harry Potter"
    password: "`+bcryptHash(t, "harry's old password")+`"
    email: harry.potter@example.com
    given_name: Harry
    groups: []
`)
	rows, err := readImportFile(file, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 3 || rows[1].Line != 11 {
		t.Fatalf("rows: %+v", rows)
	}
	dry, err := ti.srv.admin.ImportUsers(ti.Ctx, admin.ImportInput{Users: rows, DryRun: true})
	if err != nil || dry.Users != 2 || strings.Join(dry.CreatedGroups, ",") != "admins,dev" || len(dry.Problems) != 0 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if _, err := ti.srv.admin.ShowUser(ti.Ctx, "john"); err == nil {
		t.Fatal("a dry run imported john")
	}
	if _, err := ti.srv.admin.ImportUsers(ti.Ctx, admin.ImportInput{Users: rows}); err != nil {
		t.Fatal(err)
	}
	john, err := ti.srv.admin.ShowUser(ti.Ctx, "john")
	if err != nil || john.Name != "John Doe" || strings.Join(john.Groups, ",") != "admins,dev" || john.Email != "john.doe@example.com" {
		t.Fatalf("john: %+v %v", john, err)
	}

	app := ti.addClient(admin.AddClientInput{ID: "app"})
	for user, pw := range map[string]string{"john": "john's old password", "harry": "harry's old password"} {
		before := ti.user(user).PasswordHash
		if newHasher(ti.srv.cfg).IsCurrent(before) {
			t.Fatalf("%s's imported hash already has Signet's parameters", user)
		}
		b := signettest.NewBrowser(t)
		u, ap := app.AuthURL()
		if _, err := app.Exchange(app.CodeFrom(b.Login(b.Get(u), user, pw), ap), ap); err != nil {
			t.Fatalf("%s signs in with the old password: %v", user, err)
		}
		after := ti.user(user).PasswordHash
		if after == before || !newHasher(ti.srv.cfg).IsCurrent(after) {
			t.Errorf("%s's hash was not re-written to the configured argon2id: %q", user, after)
		}
		// And signs in again with the re-written hash.
		b = signettest.NewBrowser(t)
		u, ap = app.AuthURL()
		if _, err := app.Exchange(app.CodeFrom(b.Login(b.Get(u), user, pw), ap), ap); err != nil {
			t.Fatalf("%s after the re-hash: %v", user, err)
		}
	}
}

func TestImportRefusesWholeFileWithProblems(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t)
	initDataDir(t, e)
	e.ok("a long enough password\n", "user", "add", "kim", "--email", "kim@example.com", "--password-stdin")
	bad := writeFile(t, "people.jsonl", strings.Join([]string{
		`{"username": "ann", "email": "ann@example.com", "password_hash": "` + bcryptHash(t, "x") + `"}`,
		``,
		`{"username": "bob", "email": "KIM@example.com"}`,
		`{"username": "ANN", "email": "other@example.com"}`,
		`{"username": "cy", "email": "cy@example.com", "password_hash": "$md5$nope"}`,
		`{"username": "d d", "email": "d@example.com"}`,
	}, "\n"))
	r := e.run("", "user", "import", bad)
	if r.code == 0 {
		t.Fatalf("import of a bad file succeeded: %q", r.stdout)
	}
	for _, want := range []string{"people.jsonl:3: email KIM@example.com is a duplicate", "people.jsonl:4: username ANN is a duplicate (line 1)",
		"people.jsonl:5: user cy: the password hash is not usable", "people.jsonl:6: username"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if out := e.ok("", "user", "list"); strings.Contains(out, "ann") {
		t.Errorf("a row of a refused file was imported:\n%s", out)
	}
	e.fails("unknown field", "", "user", "import", writeFile(t, "typo.jsonl", `{"usrname": "x"}`))

	// Export and import round trip (hashes only when asked).
	good := writeFile(t, "good.jsonl", `{"username": "ann", "email": "ann@example.com", "email_verified": true, "groups": ["ops"], "password_hash": "`+bcryptHash(t, "x")+`"}`)
	if out := e.ok("", "user", "import", good, "--dry-run"); !strings.Contains(out, "Dry run: would import 1 user and create 1 group: ops") {
		t.Errorf("dry run: %q", out)
	}
	if out := e.ok("", "user", "import", good); !strings.Contains(out, "Imported 1 user") {
		t.Errorf("import: %q", out)
	}
	out := e.ok("", "user", "export")
	if !strings.Contains(out, `"username":"ann"`) || strings.Contains(out, "password_hash") {
		t.Errorf("export: %q", out)
	}
	if out := e.ok("", "user", "export", "--with-password-hashes"); !strings.Contains(out, `"password_hash":"$2a$`) {
		t.Errorf("export with hashes: %q", out)
	}
}
