package signettest

import (
	"context"
	"errors"
	"fmt"
	"html/template"
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
)

// The browser tests drive a real headless Chromium (Debian's chromium package)
// over the DevTools protocol with chromedp: no driver download, no network. Under
// CI=true a missing browser fails the run; elsewhere the tests skip, saying how to
// install it.

// UpdateScreenshotsEnv, when set to 1, makes the browser tests write their
// screenshots to docs/screenshots (the README shows them). Normal runs never
// write files.
const UpdateScreenshotsEnv = "SIGNET_UPDATE_SCREENSHOTS"

// Viewport sizes: a laptop, and a small phone (360 CSS pixels wide).
const (
	DesktopWidth, DesktopHeight = 1280, 800
	PhoneWidth, PhoneHeight     = 360, 740
)

// BrowserTestTimeout bounds each browser test, the browser's start included.
const BrowserTestTimeout = 45 * time.Second

// ChromiumPath returns the browser to drive: $SIGNET_CHROMIUM, or the first of
// the usual names on PATH; "" when there is none.
func ChromiumPath() string {
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

// Chrome is a tab in the shared headless Chromium, in a browser context of its
// own (its own cookies and storage, as a fresh browser would have), that the
// test drives. It records the status of every page (main-frame document)
// loaded.
type Chrome struct {
	T   testing.TB
	Ctx context.Context

	mu   sync.Mutex
	docs []DocResponse
}

// DocResponse is the address and status of a page the tab loaded.
type DocResponse struct {
	URL    *url.URL
	Status int
}

// chromium is the one browser process of the test run: starting Chromium costs
// seconds of CPU, a browser context per test costs little and isolates as well.
var chromium struct {
	once   sync.Once
	ctx    context.Context // the browser's first tab; its children are new tabs
	cancel func()
	dir    string // the profile
	err    error
}

func startChromium(path string) {
	chromium.dir, chromium.err = os.MkdirTemp("", "signet-test-chromium-")
	if chromium.err != nil {
		return
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
		chromedp.UserDataDir(chromium.dir),
		chromedp.WindowSize(DesktopWidth, DesktopHeight),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	chromium.ctx, chromium.cancel = bctx, func() { bcancel(); acancel() }
	// The browser lives as long as bctx, not as long as any one test.
	if err := chromedp.Do(bctx); err != nil {
		chromium.err = fmt.Errorf("start Chromium (%s): %w", path, err)
	}
}

// closeChromium stops the shared browser (the allocator waits for it) and
// removes its profile.
func closeChromium() {
	if chromium.cancel != nil {
		chromium.cancel()
	}
	if chromium.dir != "" {
		os.RemoveAll(chromium.dir)
	}
}

// NewChrome opens a tab for t in a new browser context of the shared Chromium
// (starting it on first use), bounded by BrowserTestTimeout: when the time is
// up the tab closes and every step fails.
func NewChrome(t testing.TB) *Chrome {
	t.Helper()
	path := ChromiumPath()
	if path == "" {
		const how = "apt-get install chromium (Debian's package; or set SIGNET_CHROMIUM to a Chromium or Chrome binary)"
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium found, and CI=true requires the browser tests: %s", how)
		}
		t.Skipf("no Chromium found; to run the browser tests: %s", how)
	}
	start := time.Now()
	chromium.once.Do(func() { startChromium(path) })
	if chromium.err != nil {
		t.Fatal(chromium.err)
	}
	tab, tabCancel := chromedp.NewContext(chromium.ctx, chromedp.WithNewBrowserContext())
	ctx, cancel := context.WithTimeout(tab, BrowserTestTimeout)
	// Closing the tab disposes of its browser context (cookies included).
	t.Cleanup(func() { cancel(); tabCancel() })
	c := &Chrome{T: t, Ctx: ctx}
	// The first Do creates the tab and binds it to ctx, the test's time limit.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	if err := chromedp.Listen(ctx, c.record); err != nil {
		t.Fatal(err)
	}
	// Every page records what its Content-Security-Policy refused (an inline
	// style or script, a foreign image), for CheckPage. DevTools runs this
	// outside the page's CSP.
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", e => window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline")));`,
	}); err != nil {
		t.Fatal(err)
	}
	c.Do("set the viewport", chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
	t.Logf("Chromium tab ready in %v", time.Since(start).Round(time.Millisecond))
	return c
}

// record keeps the status of main-frame documents. It runs in the tab's event
// loop, so it only appends.
func (c *Chrome) record(ev any) {
	e, ok := ev.(*network.EventResponseReceived)
	if !ok || e.Type != network.ResourceTypeDocument || e.Response == nil {
		return
	}
	u, err := url.Parse(e.Response.URL)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.docs = append(c.docs, DocResponse{URL: u, Status: int(e.Response.Status)})
	c.mu.Unlock()
}

// Documents returns the pages loaded so far and forgets them.
func (c *Chrome) Documents() []DocResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.docs
	c.docs = nil
	return d
}

// Do runs steps, failing the test with where the browser is and what it shows.
func (c *Chrome) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.T.Helper()
	if err := chromedp.Do(c.Ctx, steps...); err != nil {
		c.T.Fatalf("%s: %v\n%s", what, err, c.Describe())
	}
}

// Describe says where the tab is and what it shows, for failure messages.
func (c *Chrome) Describe() string {
	ctx, cancel := context.WithTimeout(c.Ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady))
	return fmt.Sprintf("at %s, the page says:\n%s", loc, body)
}

// Open loads u and waits until the element with id shows.
func (c *Chrome) Open(u, id string) {
	c.T.Helper()
	c.Do("open "+u, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.ID(id)))
}

// Click clicks the element with id (a link or a submit button), waits for the
// page it leads to, and until the element with id next shows there. It returns
// the page's HTTP status (after redirects).
func (c *Chrome) Click(id, next string) int {
	c.T.Helper()
	resp, err := chromedp.RunResponse(c.Ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		c.T.Fatalf("click #%s: %v\n%s", id, err, c.Describe())
	}
	c.Do("wait for #"+next, chromedp.WaitVisible(chromedp.ID(next)))
	return int(resp.Status)
}

// Fill types into the inputs with the given ids, in order.
func (c *Chrome) Fill(fields ...string) {
	c.T.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(fields[i]), fields[i+1]))
	}
	c.Do("fill "+strings.Join(fields, " "), steps...)
}

// Text returns the visible text of the element with id.
func (c *Chrome) Text(id string) string {
	c.T.Helper()
	s, err := chromedp.Run(c.Ctx, chromedp.Text(chromedp.ID(id)))
	if err != nil {
		c.T.Fatalf("text of #%s: %v\n%s", id, err, c.Describe())
	}
	return s
}

// BodyText returns the page's visible text.
func (c *Chrome) BodyText() string {
	c.T.Helper()
	s, err := chromedp.Run(c.Ctx, chromedp.Text(chromedp.CSS("body"), chromedp.NodeReady))
	if err != nil {
		c.T.Fatalf("page text: %v\n%s", err, c.Describe())
	}
	return s
}

// Present reports whether an element matches the CSS selector, without waiting.
func (c *Chrome) Present(sel string) bool {
	c.T.Helper()
	n, err := chromedp.Run(c.Ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
	if err != nil {
		c.T.Fatalf("query %s: %v", sel, err)
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

// CheckPage fails the test for pageProblems, at desktop and at phone width.
func (c *Chrome) CheckPage() {
	c.T.Helper()
	where := c.Location().Path
	for _, phone := range []bool{false, true} {
		if phone {
			c.Do("phone viewport", chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulateMobile))
		}
		problems, err := chromedp.Run(c.Ctx, chromedp.Evaluate[[]string](pageProblems))
		if phone {
			c.Do("desktop viewport", chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
		}
		if err != nil {
			c.T.Fatalf("check %s: %v", where, err)
		}
		for _, p := range problems {
			c.T.Errorf("%s (phone %v): %s", where, phone, p)
		}
	}
}

// TabFocus presses Tab and returns the id of the element that got the focus,
// and whether it shows a focus ring (an outline or a box shadow).
func (c *Chrome) TabFocus() (string, bool) {
	c.T.Helper()
	c.Do("press Tab", chromedp.KeyEvent(kb.Tab))
	r, err := chromedp.Run(c.Ctx, chromedp.Evaluate[[2]string](`(e => {
  const s = getComputedStyle(e);
  const ring = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== "none";
  return [e.id, String(ring)];
})(document.activeElement)`))
	if err != nil {
		c.T.Fatalf("focus: %v", err)
	}
	return r[0], r[1] == "true"
}

// Location returns the tab's address.
func (c *Chrome) Location() *url.URL {
	c.T.Helper()
	s, err := chromedp.Run(c.Ctx, chromedp.Location())
	if err != nil {
		c.T.Fatal(err)
	}
	u, err := url.Parse(s)
	if err != nil {
		c.T.Fatal(err)
	}
	return u
}

// WantAt fails unless the tab shows origin+path.
func (c *Chrome) WantAt(origin, path string) {
	c.T.Helper()
	u := c.Location()
	if u.Scheme+"://"+u.Host != origin || u.Path != path {
		c.T.Fatalf("at %s, want %s%s\n%s", u, origin, path, c.Describe())
	}
}

// ClearCookies forgets every cookie, as a fresh browser would have none.
func (c *Chrome) ClearCookies() {
	c.T.Helper()
	if _, err := chromedp.Call(c.Ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
		c.T.Fatal(err)
	}
}

// How look pictures a page.
type Picture int

const (
	FullPage    Picture = iota // the whole page at desktop width
	FirstScreen                // what a desktop window shows before scrolling
	PhonePage                  // the whole page at phone width (2x pixels)
)

// Look checks the page shown (checkPage) and, when SIGNET_UPDATE_SCREENSHOTS=1,
// saves a screenshot as docs/screenshots/name.png.
func (c *Chrome) Look(name string, how Picture) {
	c.T.Helper()
	if how != PhonePage {
		c.CheckPage()
	}
	if os.Getenv(UpdateScreenshotsEnv) != "1" {
		return
	}
	shoot := chromedp.FullScreenshot(100)
	switch how {
	case FirstScreen:
		shoot = chromedp.CaptureScreenshot()
	case PhonePage:
		c.Do("phone viewport", chromedp.EmulateViewport(PhoneWidth, PhoneHeight, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		defer c.Do("desktop viewport", chromedp.EmulateViewport(DesktopWidth, DesktopHeight))
	}
	png, err := chromedp.Run(c.Ctx, shoot)
	if err != nil {
		c.T.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.T.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.T.Fatal(err)
	}
	c.T.Logf("wrote docs/screenshots/%s.png", name)
}

// ListenLoopback listens on 127.0.0.1:port when SIGNET_UPDATE_SCREENSHOTS=1 and
// the port is free (so the pictures show the addresses of `serve --demo`), and on
// a free port otherwise.
func ListenLoopback(t testing.TB, port int) net.Listener {
	t.Helper()
	if os.Getenv(UpdateScreenshotsEnv) == "1" {
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

// AttackerSite serves, from another origin, a page that submits a form to
// Signet with script as soon as it loads: what a malicious site would do.
type AttackerSite struct {
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

// StartAttacker serves the attack page on host ("localhost" or "127.0.0.1") at a
// free port.
func StartAttacker(t testing.TB, host string) *AttackerSite {
	t.Helper()
	a := &AttackerSite{}
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

// Arm sets the form the next visit submits.
func (a *AttackerSite) Arm(action string, fields url.Values) {
	a.mu.Lock()
	a.action, a.fields = action, fields
	a.mu.Unlock()
}

// HiddenFields reads the hidden inputs of the form with id, as the page holds
// them (what a leaked form would give an attacker).
func (c *Chrome) HiddenFields(formID string) url.Values {
	c.T.Helper()
	raw, err := chromedp.Run(c.Ctx, chromedp.Evaluate[[][2]string](fmt.Sprintf(
		`Array.from(document.querySelectorAll("#%s input[type=hidden]")).map(i => [i.name, i.value])`, formID)))
	if err != nil {
		c.T.Fatalf("hidden fields of #%s: %v", formID, err)
	}
	v := url.Values{}
	for _, kv := range raw {
		v.Add(kv[0], kv[1])
	}
	if len(v) == 0 {
		c.T.Fatalf("#%s has no hidden fields\n%s", formID, c.Describe())
	}
	return v
}

var ErrNoDocument = errors.New("no such page was loaded")

// StatusOf returns the status of the last loaded page whose address has origin
// and path.
func StatusOf(docs []DocResponse, origin, path string) (int, error) {
	for i := len(docs) - 1; i >= 0; i-- {
		u := docs[i].URL
		if u.Scheme+"://"+u.Host == origin && u.Path == path {
			return docs[i].Status, nil
		}
	}
	return 0, ErrNoDocument
}
