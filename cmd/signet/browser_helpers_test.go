package main

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/demorp"
	"github.com/signet-idp/signet/web"
)

// The browser tests drive a real headless Chromium (Debian's chromium package)
// over the DevTools protocol with chromedp: no driver download, no network. Under
// CI=true a missing browser fails the run; elsewhere the tests skip, saying how to
// install it.

// updateScreenshotsEnv, when set to 1, makes the browser tests write their
// screenshots to docs/screenshots (the README shows them). Normal runs never
// write files.
const updateScreenshotsEnv = "SIGNET_UPDATE_SCREENSHOTS"

// Viewport sizes: a laptop, and a small phone (360 CSS pixels wide).
const (
	desktopWidth, desktopHeight = 1280, 800
	phoneWidth, phoneHeight     = 360, 740
)

// browserTestTimeout bounds each browser test, the browser's start included.
const browserTestTimeout = 45 * time.Second

// chromiumPath returns the browser to drive: $SIGNET_CHROMIUM, or the first of
// the usual names on PATH; "" when there is none.
func chromiumPath() string {
	if p := os.Getenv("SIGNET_CHROMIUM"); p != "" {
		if p, err := exec.LookPath(p); err == nil {
			return p
		}
		return ""
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// chrome is one headless Chromium with its own profile, and the tab the test
// drives. It records the status of every page (main-frame document) loaded.
type chrome struct {
	t   *testing.T
	ctx context.Context

	mu   sync.Mutex
	docs []docResponse
}

type docResponse struct {
	url    *url.URL
	status int
}

// newChrome starts a browser for t, bounded by browserTestTimeout: when the time
// is up the browser is killed and every step fails.
func newChrome(t *testing.T) *chrome {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		const how = "apt-get install chromium (Debian's package; or set SIGNET_CHROMIUM to a Chromium or Chrome binary)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium found, and CI=true requires the browser tests: %s", how)
		}
		t.Skipf("no Chromium found; to run the browser tests: %s", how)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	ctx, cancel := context.WithTimeout(context.Background(), browserTestTimeout)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	// Cleanups run last-in first-out: the browser exits (and the allocator waits
	// for it) before t.TempDir removes the profile.
	t.Cleanup(func() { bcancel(); acancel(); cancel() })
	c := &chrome{t: t, ctx: bctx}
	start := time.Now()
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	if err := chromedp.Listen(bctx, c.record); err != nil {
		t.Fatal(err)
	}
	// Every page records what its Content-Security-Policy refused (an inline
	// style or script, a foreign image), for checkPage. DevTools runs this
	// outside the page's CSP.
	if _, err := chromedp.Call(bctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));`,
	}); err != nil {
		t.Fatal(err)
	}
	c.do("set the viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// record keeps the status of main-frame documents. It runs in the tab's event
// loop, so it only appends.
func (c *chrome) record(ev any) {
	e, ok := ev.(*network.EventResponseReceived)
	if !ok || e.Type != network.ResourceTypeDocument || e.Response == nil {
		return
	}
	u, err := url.Parse(e.Response.URL)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.docs = append(c.docs, docResponse{url: u, status: int(e.Response.Status)})
	c.mu.Unlock()
}

// documents returns the pages loaded so far and forgets them.
func (c *chrome) documents() []docResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs
	c.docs = nil
	return d
}

// do runs steps, failing the test with where the browser is and what it shows.
func (c *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v\n%s", what, err, c.describe())
	}
}

// describe says where the tab is and what it shows, for failure messages.
func (c *chrome) describe() string {
	ctx, cancel := context.WithTimeout(c.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady))
	return fmt.Sprintf("at %s, the page says:\n%s", loc, body)
}

// open loads u and waits until the element with id shows.
func (c *chrome) open(u, id string) {
	c.t.Helper()
	c.do("open "+u, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID(id)))
}

// click clicks the element with id (a link or a submit button), waits for the
// page it leads to, and until the element with id next shows there. It returns
// the page's HTTP status (after redirects).
func (c *chrome) click(id, next string) int {
	c.t.Helper()
	resp, err := chromedp.RunResponse(c.ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		c.t.Fatalf("click #%s: %v\n%s", id, err, c.describe())
	}
	c.do("wait for #"+next, chromedp.WaitVisible(chromedp.ID(next)))
	return int(resp.Status)
}

// fill types into the inputs with the given ids, in order.
func (c *chrome) fill(fields ...string) {
	c.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	c.do("fill "+strings.Join(fields, " "), steps...)
}

// text returns the visible text of the element with id.
func (c *chrome) text(id string) string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		c.t.Fatalf("text of #%s: %v\n%s", id, err, c.describe())
	}
	return s
}

// bodyText returns the page's visible text.
func (c *chrome) bodyText() string {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady))
	if err != nil {
		c.t.Fatalf("page text: %v\n%s", err, c.describe())
	}
	return s
}

// present reports whether an element matches the CSS selector, without waiting.
func (c *chrome) present(sel string) bool {
	c.t.Helper()
	n, err := chromedp.Run(c.ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		c.t.Fatalf("query %s: %v", sel, err)
	}
	return n > 0
}

// pageProblems lists what is wrong with the page shown: inputs without a label,
// aria-describedby naming no element, anything the CSP refused, and content
// wider than the viewport.
const pageProblems = `(() => {
  const problems = [];
  for (const el of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    if (!el.labels || el.labels.length === 0) problems.push("input #" + el.id + " has no label");
  }
  for (const el of document.querySelectorAll("[aria-describedby]")) {
    for (const id of el.getAttribute("aria-describedby").split(/\s+/)) {
      if (!document.getElementById(id)) problems.push("#" + el.id + " is described by a missing #" + id);
    }
  }
  for (const v of window.__cspViolations || []) problems.push("CSP refused " + v);
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) problems.push("the page is " + root.scrollWidth + "px wide in a " + root.clientWidth + "px viewport");
  return problems;
})()`

// checkPage fails the test for pageProblems, at desktop and at phone width.
func (c *chrome) checkPage() {
	c.t.Helper()
	where := c.location().Path
	for _, phone := range []bool{false, true} {
		if phone {
			c.do("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile))
		}
		problems, err := chromedp.Run(c.ctx, chromedp.Evaluate[[]string](pageProblems))
		if phone {
			c.do("desktop viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
		}
		if err != nil {
			c.t.Fatalf("check %s: %v", where, err)
		}
		for _, p := range problems {
			c.t.Errorf("%s (phone %v): %s", where, phone, p)
		}
	}
}

// tabFocus presses Tab and returns the id of the element that got the focus,
// and whether it shows a focus ring (an outline or a box shadow).
func (c *chrome) tabFocus() (string, bool) {
	c.t.Helper()
	c.do("press Tab", chromedp.KeyEvent(kb.Tab))
	r, err := chromedp.Run(c.ctx, chromedp.Evaluate[[2]string](`(e => {
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  return [e.id, String(ring)];
})(document.activeElement)`))
	if err != nil {
		c.t.Fatalf("focus: %v", err)
	}
	return r[0], r[1] == "true"
}

// location returns the tab's address.
func (c *chrome) location() *url.URL {
	c.t.Helper()
	s, err := chromedp.Run(c.ctx, chromedp.Location())
	if err != nil {
		c.t.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

// wantAt fails unless the tab shows origin+path.
func (c *chrome) wantAt(origin, path string) {
	c.t.Helper()
	u := c.location()
	if u.Scheme+"://"+u.Host != origin || u.Path != path {
		c.t.Fatalf("at %s, want %s%s\n%s", u, origin, path, c.describe())
	}
}

// clearCookies forgets every cookie, as a fresh browser would have none.
func (c *chrome) clearCookies() {
	c.t.Helper()
	if _, err := chromedp.Call(c.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		c.t.Fatal(err)
	}
}

// How look pictures a page.
type picture int

const (
	fullPage    picture = iota // the whole page at desktop width
	firstScreen                // what a desktop window shows before scrolling
	phonePage                  // the whole page at phone width (2x pixels)
)

// look checks the page shown (checkPage) and, when SIGNET_UPDATE_SCREENSHOTS=1,
// saves a screenshot as docs/screenshots/name.png.
func (c *chrome) look(name string, how picture) {
	c.t.Helper()
	if how != phonePage {
		c.checkPage()
	}
	if os.Getenv(updateScreenshotsEnv) != "1" {
		return
	}
	shoot := chromedp.FullScreenshot(100)
	switch how {
	case firstScreen:
		shoot = chromedp.CaptureScreenshot()
	case phonePage:
		c.do("phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer c.do("desktop viewport", chromedp.EmulateViewport(desktopWidth, desktopHeight))
	}
	png, err := chromedp.Run(c.ctx, shoot)
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("wrote docs/screenshots/%s.png", name)
}

// listenLoopback listens on 127.0.0.1:port when SIGNET_UPDATE_SCREENSHOTS=1 and
// the port is free (so the pictures show the addresses of `serve --demo`), and on
// a free port otherwise.
func listenLoopback(t *testing.T, port int) net.Listener {
	t.Helper()
	if os.Getenv(updateScreenshotsEnv) == "1" {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			return ln
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startBrowserIssuer is startIssuer for the browser tests: the real wiring on
// 127.0.0.1, with the issuer URL known before wiring, and no test users.
func startBrowserIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ln := listenLoopback(t, 5556)
	cfg := testConfig(t)
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Listen = ln.Addr().String()
	return serveIssuerOn(t, ln, cfg)
}

// demoRP is a demo relying party (cmd/signet/internal/demorp) served in the test.
type demoRP struct {
	URL      string
	ClientID string
}

// startDemoRP serves the `serve --demo` relying party the way startDemo does:
// seedDemo creates the demo user and registers the (third-party) demo client.
func startDemoRP(t *testing.T, ti *testIssuer) *demoRP {
	t.Helper()
	ln := listenLoopback(t, 5557)
	rpURL := "http://" + ln.Addr().String()
	dc := demoConfig(ti, demoClientID, rpURL)
	secret, err := seedDemo(ti.ctx, ti.srv.admin, ti.srv.cfg.DataDir, admin.AddClientInput{
		ID: demoClientID, Name: "Signet demo app", RedirectURIs: []string{dc.RedirectURL},
		PostLogoutRedirectURIs: []string{dc.PostLogoutRedirect()},
		BackchannelLogoutURI:   dc.BackchannelLogoutURL(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return serveDemoRP(t, ln, dc, secret)
}

// startSecondRP serves another demo relying party, registered as a first-party
// client, on "localhost": a different host from the issuer's and the first
// app's 127.0.0.1, so that the two apps' cookies (not isolated by port) stay
// apart.
func startSecondRP(t *testing.T, ti *testIssuer, id, name string) *demoRP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	rpURL := "http://localhost:" + port
	dc := demoConfig(ti, id, rpURL)
	created, err := ti.srv.admin.AddClient(ti.ctx, admin.AddClientInput{
		ID: id, Name: name, RedirectURIs: []string{dc.RedirectURL}, FirstParty: true,
		PostLogoutRedirectURIs: []string{dc.PostLogoutRedirect()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return serveDemoRP(t, ln, dc, created.ClientSecret)
}

func demoConfig(ti *testIssuer, clientID, rpURL string) demorp.Config {
	scopes := []string{"openid", "profile", "email", "offline_access"}
	for _, sc := range ti.srv.cfg.Scopes {
		scopes = append(scopes, sc.Name)
	}
	return demorp.Config{
		Issuer: ti.URL, ClientID: clientID, RedirectURL: rpURL + "/callback", Scopes: scopes,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     slog.New(slog.DiscardHandler),
	}
}

func serveDemoRP(t *testing.T, ln net.Listener, dc demorp.Config, secret string) *demoRP {
	t.Helper()
	dc.ClientSecret = secret
	rp, err := demorp.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: web.SecurityHeaders(rp)}}
	ts.Start()
	t.Cleanup(ts.Close)
	u, _ := url.Parse(dc.RedirectURL)
	return &demoRP{URL: u.Scheme + "://" + u.Host, ClientID: dc.ClientID}
}

// enrolInBrowser signs user in to the account pages, sets up two-step sign-in
// with the code an authenticator app would show at the issuer's clock, and
// returns the secret. The issuer's clock is moved back one time step for the
// enrolment and forward again after it, so that the next sign-in has a fresh
// code at the present time (each code works once) and the tokens' times stay
// close to the demo app's real clock.
func enrolInBrowser(c *chrome, ti *testIssuer, user, pw string) string {
	c.t.Helper()
	ti.clock.Advance(-step)
	defer ti.clock.Advance(step)
	c.open(ti.URL+web.PathAccountTOTP, "login-form")
	c.fill("username", user, "password", pw)
	c.click("submit", "totp-enrol-form")
	c.look("totp-setup", fullPage)
	secret := c.text("totp-secret")
	code, err := pqtotp.GenerateCode(secret, ti.clock.Now())
	if err != nil {
		c.t.Fatal(err)
	}
	c.fill("code", code)
	c.click("submit", "recovery-codes")
	c.look("recovery-codes", fullPage)
	c.click("continue", "totp-manage-form")
	c.look("totp-manage", fullPage)
	return secret
}

// attackerSite serves, from another origin, a page that submits a form to
// Signet with script as soon as it loads: what a malicious site would do.
type attackerSite struct {
	URL string
	mu  sync.Mutex
	// action and fields are the form the page submits.
	action string
	fields url.Values
}

var attackerPage = template.Must(template.New("attack").Parse(`<!doctype html>
<html><head><title>Win a prize</title></head><body>
<form id="f" method="post" action="{{.Action}}">
{{range $k, $vs := .Fields}}{{range $vs}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}</form>
<script>document.getElementById("f").submit()</script>
</body></html>`))

// startAttacker serves the attack page on host ("localhost" or "127.0.0.1") at a
// free port.
func startAttacker(t *testing.T, host string) *attackerSite {
	t.Helper()
	a := &attackerSite{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	a.URL = "http://" + host + ":" + port
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		data := struct {
			Action string
			Fields url.Values
		}{a.action, a.fields}
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := attackerPage.Execute(w, data); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})}}
	ts.Start()
	t.Cleanup(ts.Close)
	return a
}

// arm sets the form the next visit submits.
func (a *attackerSite) arm(action string, fields url.Values) {
	a.mu.Lock()
	a.action, a.fields = action, fields
	a.mu.Unlock()
}

// hiddenFields reads the hidden inputs of the form with id, as the page holds
// them (what a leaked form would give an attacker).
func (c *chrome) hiddenFields(formID string) url.Values {
	c.t.Helper()
	raw, err := chromedp.Run(c.ctx, chromedp.Evaluate[[][2]string](fmt.Sprintf(
		`Array.from(document.querySelectorAll("#%s input[type=hidden]")).map(i => [i.name, i.value])`, formID)))
	if err != nil {
		c.t.Fatalf("hidden fields of #%s: %v", formID, err)
	}
	v := url.Values{}
	for _, kv := range raw {
		v.Add(kv[0], kv[1])
	}
	if len(v) == 0 {
		c.t.Fatalf("#%s has no hidden fields\n%s", formID, c.describe())
	}
	return v
}

var errNoDocument = errors.New("no such page was loaded")

// statusOf returns the status of the last loaded page whose address has origin
// and path.
func statusOf(docs []docResponse, origin, path string) (int, error) {
	for i := len(docs) - 1; i >= 0; i-- {
		u := docs[i].url
		if u.Scheme+"://"+u.Host == origin && u.Path == path {
			return docs[i].status, nil
		}
	}
	return 0, errNoDocument
}
