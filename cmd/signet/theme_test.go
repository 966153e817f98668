package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/templates"
)

// TestThemeDirOverridesPages: a theme replaces a page template and the stylesheet
// file by file; the rest stays embedded.
func TestThemeDirOverridesPages(t *testing.T) {
	t.Parallel()
	theme := t.TempDir()
	login, err := templates.FS.ReadFile("login.html")
	if err != nil {
		t.Fatal(err)
	}
	themed := strings.Replace(string(login), "<h1>Sign in</h1>", `<h1 id="themed">Welcome to Example Corp</h1>`, -1)
	if err := os.WriteFile(filepath.Join(theme, "login.html"), []byte(themed), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(theme, "static"), 0o755)
	os.WriteFile(filepath.Join(theme, "static", "signet.css"), []byte("body { color: rebeccapurple; }"), 0o644)

	ti := startIssuer(t, func(c *Config) { c.ThemeDir = theme })
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	u, _ := app.AuthURL()
	p := signettest.NewBrowser(t).Get(u)
	if !strings.Contains(p.Body, `id="themed"`) || !strings.Contains(p.Body, `name="password"`) {
		t.Fatalf("themed login page not served: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	resp, err := http.Get(ti.URL + "/static/signet.css")
	if err != nil {
		t.Fatal(err)
	}
	css, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(css), "rebeccapurple") {
		t.Errorf("themed stylesheet not served: %s", css)
	}
	// Pages the theme does not replace stay embedded.
	if p := signettest.NewBrowser(t).Get(ti.URL + "/account/login"); !strings.Contains(p.Body, `name="username"`) {
		t.Errorf("embedded page missing under a theme")
	}
}

// TestThemeDirErrorsFailStart: a missing directory, a broken template or one that
// lost a page's definition stops start-up with a message naming the problem.
func TestThemeDirErrorsFailStart(t *testing.T) {
	t.Parallel()
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "error.html"), []byte(`{{define "error"}}{{.Title}{{end}}`), 0o644)
	dropped := t.TempDir()
	os.WriteFile(filepath.Join(dropped, "consent.html"), []byte(`{{define "consent"}}x{{end}}`), 0o644)
	noTOTP := t.TempDir()
	os.WriteFile(filepath.Join(noTOTP, "totp.html"), []byte(`{{define "totp-renamed"}}x{{end}}`), 0o644)
	badField := t.TempDir()
	os.WriteFile(filepath.Join(badField, "login.html"), []byte(`{{define "login"}}{{.Data.NoSuchField}}{{end}}`), 0o644)
	for name, tc := range map[string]struct{ dir, want string }{
		"missing dir":      {filepath.Join(t.TempDir(), "nope"), "theme directory"},
		"broken template":  {broken, "error.html"},
		"dropped define":   {dropped, `"account-home"`},
		"dropped two-step": {noTOTP, `"totp"`},
		"fails when shown": {badField, `"login" fails when shown`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.ThemeDir = tc.dir
			_, err := newServer(context.Background(), cfg, time.Now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newServer with theme %s: err = %v, want one mentioning %s", tc.dir, err, tc.want)
			}
		})
	}
}
