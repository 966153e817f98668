package main

import (
	"bytes"
	"encoding/base32"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web"
	"github.com/signet-idp/signet/web/credentials/totp"
)

const (
	alicePassword = "correct horse battery"
	// codeRefused is the page's one message for every refused second factor.
	codeRefused = "That code was not accepted."
	step        = totp.Period * time.Second
)

var (
	secretRE   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryRE = regexp.MustCompile(`id="recovery-codes">([^<]*)</pre>`)
	continueRE = regexp.MustCompile(`id="continue" href="([^"]+)"`)
)

// totpCode is what an authenticator app shows at the issuer's (injected) time.
func (ti *testIssuer) totpCode(secret string) string {
	ti.T.Helper()
	c, err := pqtotp.GenerateCode(secret, ti.Clock.Now())
	if err != nil {
		ti.T.Fatal(err)
	}
	return c
}

// nextStep moves the issuer's clock to the next time step, so that a fresh code
// exists (each code works once).
func (ti *testIssuer) nextStep() { ti.Clock.Advance(step) }

func (ti *testIssuer) user(username string) *storage.User {
	ti.T.Helper()
	u, err := ti.srv.store.GetUserByUsername(ti.Ctx, username)
	if err != nil {
		ti.T.Fatal(err)
	}
	return u
}

// accountSignIn signs the browser in to the account pages with the password and
// returns the page it lands on.
func accountSignIn(b *signettest.Browser, ti *testIssuer, user, pw string) signettest.Page {
	b.T.Helper()
	p := b.Get(ti.URL + web.PathAccountTOTP)
	if p.URL.Path != web.PathAccountLogin || !strings.Contains(p.Body, `name="password"`) {
		b.T.Fatalf("account page without a session: %d %s", p.Status, p.URL)
	}
	return b.Login(p, user, pw)
}

// enrolOn completes the enrolment page p and returns the secret and the recovery
// codes.
func enrolOn(b *signettest.Browser, ti *testIssuer, p signettest.Page) (string, []string, signettest.Page) {
	b.T.Helper()
	m := secretRE.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || m == nil {
		b.T.Fatalf("enrolment page: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	secret := m[1]
	done := b.Submit(p, web.PathAccountTOTP, url.Values{"code": {ti.totpCode(secret)}})
	r := recoveryRE.FindStringSubmatch(done.Body)
	if done.Status != http.StatusOK || r == nil {
		b.T.Fatalf("after the enrolment code: %d %s\n%s", done.Status, done.URL, done.Body)
	}
	codes := strings.Fields(html.UnescapeString(r[1]))
	if len(codes) != totp.RecoveryCodeCount {
		b.T.Fatalf("%d recovery codes: %q", len(codes), codes)
	}
	return secret, codes, done
}

// enrolAlice signs alice in to the account pages in a browser of its own, enrols
// her, and moves the clock past the step of the enrolment code.
func enrolAlice(ti *testIssuer) (string, []string) {
	ti.T.Helper()
	b := signettest.NewBrowser(ti.T)
	secret, codes, _ := enrolOn(b, ti, accountSignIn(b, ti, "alice", alicePassword))
	ti.nextStep()
	return secret, codes
}

// passwordStep starts a sign-in at app and passes the password; for a person with
// a second factor it returns the code page and the auth params.
func passwordStep(r *signettest.RP, b *signettest.Browser, extra ...oauth2.AuthCodeOption) (signettest.Page, signettest.AuthParams) {
	r.Iss.T.Helper()
	u, ap := r.AuthURL(extra...)
	p := b.Get(u)
	if !strings.Contains(p.Body, `name="password"`) {
		r.Iss.T.Fatalf("login page: %d %s", p.Status, p.URL)
	}
	return b.Login(p, "alice", alicePassword), ap
}

func isCodePage(p signettest.Page) bool {
	return p.Status == http.StatusOK && p.URL.Path == web.PathSecondFactor &&
		strings.Contains(p.Body, `name="code"`) && !strings.Contains(p.Body, `name="password"`)
}

func sendCode(b *signettest.Browser, p signettest.Page, code string) signettest.Page {
	return b.Submit(p, web.PathSecondFactor, url.Values{"code": {code}})
}

func wantRefused(t *testing.T, p signettest.Page, what string) {
	t.Helper()
	if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, codeRefused) || !isCodeForm(p) {
		t.Errorf("%s: got %d %s, want 401 with the generic message on the code page\n%s", what, p.Status, p.URL, p.Body)
	}
}

func isCodeForm(p signettest.Page) bool { return strings.Contains(p.Body, `id="totp-form"`) }

type authClaims struct {
	Sub string   `json:"sub"`
	SID string   `json:"sid"`
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// finish exchanges the code in p's redirect and returns the ID token's claims.
func finish(r *signettest.RP, p signettest.Page, ap signettest.AuthParams) authClaims {
	r.Iss.T.Helper()
	tok, err := r.Exchange(r.CodeFrom(p, ap), ap)
	if err != nil {
		r.Iss.T.Fatalf("exchange: %v", err)
	}
	var c authClaims
	if err := r.VerifyID(tok, ap.Nonce).Claims(&c); err != nil {
		r.Iss.T.Fatal(err)
	}
	return c
}

var (
	amrMFA = []string{web.AMRPassword, web.AMROTP, web.AMRMFA}
	amrPwd = []string{web.AMRPassword}
)

func wantAuth(t *testing.T, c authClaims, amr []string, acr string) {
	t.Helper()
	if !slices.Equal(c.AMR, amr) || c.ACR != acr {
		t.Errorf("amr %v acr %q, want %v %q", c.AMR, c.ACR, amr, acr)
	}
}

func TestTOTPEnrolLoginReplayRecovery(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	// Enrolment through the account pages.
	b := signettest.NewBrowser(t)
	p := accountSignIn(b, ti, "alice", alicePassword)
	if p.URL.Path != web.PathAccountTOTP || !strings.Contains(p.Body, `src="data:image/png;base64,`) ||
		!strings.Contains(p.Body, `name="code"`) {
		t.Fatalf("enrolment page: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	if cc := p.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enrolment page Cache-Control %q", cc)
	}
	if csp := p.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") || strings.Contains(csp, "script-src") {
		t.Errorf("enrolment page CSP %q", csp)
	}
	secret := secretRE.FindStringSubmatch(p.Body)[1]
	if again := b.Get(ti.URL + web.PathAccountTOTP); secretRE.FindStringSubmatch(again.Body)[1] != secret {
		t.Errorf("reloading the page changed the secret")
	}
	if ti.user("alice").TOTP.Enrolled() {
		t.Fatal("enrolled before any code")
	}
	// A wrong code does not enrol, and shows the same secret.
	wrong := b.Submit(p, web.PathAccountTOTP, url.Values{"code": {"000000"}})
	if wrong.Status != http.StatusUnauthorized || !strings.Contains(wrong.Body, codeRefused) || !strings.Contains(wrong.Body, secret) {
		t.Errorf("wrong enrolment code: %d\n%s", wrong.Status, wrong.Body)
	}
	secret2, recovery, _ := enrolOn(b, ti, p)
	if secret2 != secret {
		t.Fatalf("secret changed")
	}
	u := ti.user("alice")
	if !u.TOTP.Enrolled() || len(u.TOTP.RecoveryCodes) != totp.RecoveryCodeCount {
		t.Fatalf("stored state: %+v", u.TOTP)
	}
	// Stored sealed and hashed: neither the secret nor a recovery code is in the record.
	raw, _ := totpSecretBytes(secret)
	for _, rc := range recovery {
		if slices.Contains(u.TOTP.RecoveryCodes, rc) || slices.Contains(u.TOTP.RecoveryCodes, strings.ReplaceAll(rc, "-", "")) {
			t.Errorf("recovery code stored in the clear")
		}
	}
	if bytes.Contains(u.TOTP.Secret, raw) || bytes.Contains(u.TOTP.Secret, []byte(secret)) {
		t.Errorf("TOTP secret stored in the clear")
	}
	enrolCode := ti.totpCode(secret)

	// Login: password, then the code page (bound to the request), no session before.
	b1 := signettest.NewBrowser(t)
	cp, ap := passwordStep(app, b1)
	if !isCodePage(cp) {
		t.Fatalf("after the password: %d %s\n%s", cp.Status, cp.URL, cp.Body)
	}
	if sp := b1.Get(ti.URL + web.PathAccountTOTP); sp.URL.Path != web.PathAccountLogin {
		t.Errorf("a session exists after the password alone: %s", sp.URL)
	}
	// The enrolment's code was accepted once: it does not sign in.
	wantRefused(t, sendCode(b1, cp, enrolCode), "the enrolment code replayed")
	ti.nextStep()
	code := ti.totpCode(secret)
	done := sendCode(b1, cp, code)
	c1 := finish(app, done, ap)
	wantAuth(t, c1, amrMFA, web.ACRMFA)

	// The same code, for a second sign-in within the same 30 seconds: refused.
	b2 := signettest.NewBrowser(t)
	cp2, ap2 := passwordStep(app, b2)
	wantRefused(t, sendCode(b2, cp2, code), "a code used for another sign-in")
	// A wrong code gets the same answer.
	wantRefused(t, sendCode(b2, cp2, code[:5]+string('0'+(code[5]-'0'+1)%10)), "a wrong code")
	// A recovery code works, once, in the same input.
	wantAuth(t, finish(app, sendCode(b2, cp2, recovery[0]), ap2), amrMFA, web.ACRMFA)
	if n := len(ti.user("alice").TOTP.RecoveryCodes); n != totp.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left", n)
	}
	b3 := signettest.NewBrowser(t)
	cp3, ap3 := passwordStep(app, b3)
	wantRefused(t, sendCode(b3, cp3, recovery[0]), "a used recovery code")
	// Recovery codes are typed loosely: upper case, spaces instead of hyphens.
	loose := strings.ToUpper(strings.ReplaceAll(recovery[1], "-", " "))
	wantAuth(t, finish(app, sendCode(b3, cp3, loose), ap3), amrMFA, web.ACRMFA)

	// The session carries both factors: the next request signs in silently.
	u2, ap4 := app.AuthURL(oauth2.SetAuthURLParam("prompt", "none"))
	c4 := finish(app, b1.Get(u2), ap4)
	wantAuth(t, c4, amrMFA, web.ACRMFA)
	if c4.SID != c1.SID || c4.Sub != c1.Sub {
		t.Errorf("SSO changed the session: %+v vs %+v", c4, c1)
	}
	// So does a request that asks for two steps.
	u5, ap5 := app.AuthURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	wantAuth(t, finish(app, b1.Get(u5), ap5), amrMFA, web.ACRMFA)
}

func totpSecretBytes(secret string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
}

// A session that used only a password (it began before the enrolment) is asked
// for the code alone when an application asks for two steps; the ID token then
// says so, and the session keeps its sid.
func TestTOTPStepUpByACRValues(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c0 authClaims
	app.VerifyID(tok, ap.Nonce).Claims(&c0)
	wantAuth(t, c0, amrPwd, web.ACRPassword)

	// Enrol in the same browser: the session stays what it was signed in with.
	p := b.Get(ti.URL + web.PathAccountTOTP)
	secret, _, _ := enrolOn(b, ti, p)
	ti.nextStep()

	// prompt=none cannot ask for the code.
	u, ap1 := app.AuthURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA), oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.Get(u); p.URL.Query().Get("error") != "interaction_required" || p.URL.Query().Get("state") != ap1.State {
		t.Errorf("prompt=none needing a second factor: %s", p.URL)
	}

	u, ap2 := app.AuthURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	cp := b.Get(u)
	if !isCodePage(cp) {
		t.Fatalf("step-up: want the code page without a password, got %d %s\n%s", cp.Status, cp.URL, cp.Body)
	}
	c := finish(app, sendCode(b, cp, ti.totpCode(secret)), ap2)
	wantAuth(t, c, amrMFA, web.ACRMFA)
	if c.SID != c0.SID || c.Sub != c0.Sub {
		t.Errorf("step-up changed sid or subject: %+v vs %+v", c, c0)
	}
}

// With the required policy, a person without a second factor is sent to enrol
// and then continues the same request, which completes with two steps.
func TestTOTPRequiredPolicyEnrolsThenContinues(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t, func(c *Config) { c.MFA.Policy = "required" })
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := signettest.NewBrowser(t)
	p, ap := passwordStep(app, b)
	if p.URL.Path != web.PathAccountTOTP || p.URL.Query().Get("authRequestID") == "" {
		t.Fatalf("want the enrolment page for the request, got %d %s", p.Status, p.URL)
	}
	if !strings.Contains(p.Body, "App app") {
		t.Errorf("the enrolment page does not name the application")
	}
	_, _, done := enrolOn(b, ti, p)
	m := continueRE.FindStringSubmatch(done.Body)
	if m == nil || !strings.Contains(m[1], p.URL.Query().Get("authRequestID")) {
		t.Fatalf("no link continuing the request:\n%s", done.Body)
	}
	c := finish(app, b.Get(ti.URL+html.UnescapeString(m[1])), ap)
	wantAuth(t, c, amrMFA, web.ACRMFA)

	// Turning it off is refused under this policy.
	mp := b.Get(ti.URL + web.PathAccountTOTP)
	ti.nextStep()
	off := b.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "password": {alicePassword}})
	if off.Status != http.StatusBadRequest || !ti.user("alice").TOTP.Enrolled() {
		t.Errorf("removal under the required policy: %d", off.Status)
	}
}

// A client that requires two steps, or acr_values asking for them, sends a person
// without a second factor to enrol; other clients do not.
func TestTOTPRequiredByClientOrACR(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	strict := ti.addClient(admin.AddClientInput{ID: "strict", RequireMFA: true})
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	b := signettest.NewBrowser(t)
	code, ap := app.SignIn(b)
	if _, err := app.Exchange(code, ap); err != nil {
		t.Fatal(err)
	}
	// Same browser, signed in with a password: strict asks to enrol.
	u, _ := strict.AuthURL()
	if p := b.Get(u); p.URL.Path != web.PathAccountTOTP || secretRE.FindString(p.Body) == "" {
		t.Errorf("client requiring MFA: got %d %s", p.Status, p.URL)
	}
	// acr_values at an ordinary client does the same.
	u, _ = app.AuthURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	if p := b.Get(u); p.URL.Path != web.PathAccountTOTP {
		t.Errorf("acr_values asking for MFA: got %d %s", p.Status, p.URL)
	}
	// Asking for the password level only is satisfied by the password.
	u, ap = app.AuthURL(oauth2.SetAuthURLParam("acr_values", web.ACRPassword))
	wantAuth(t, finish(app, b.Get(u), ap), amrPwd, web.ACRPassword)

	// After enrolling, strict gets two steps.
	secret, _ := enrolAlice(ti)
	b2 := signettest.NewBrowser(t)
	cp, ap2 := passwordStep(strict, b2)
	if !isCodePage(cp) {
		t.Fatalf("client requiring MFA, person enrolled: %d %s", cp.Status, cp.URL)
	}
	wantAuth(t, finish(strict, sendCode(b2, cp, ti.totpCode(secret)), ap2), amrMFA, web.ACRMFA)
}

// The code page is bound to its auth request and to the browser that passed the
// password: skipping to it, posting it for another request, or from another
// browser, fails and changes nothing. Malformed and stale codes get the generic
// answer and count nothing.
func TestTOTPBindingAndBadInput(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, _ := enrolAlice(ti)

	// Skipping the password.
	b := signettest.NewBrowser(t)
	u, _ := app.AuthURL()
	lp := b.Get(u)
	id := ""
	for _, m := range signettest.InputRE.FindAllStringSubmatch(lp.Body, -1) {
		if m[1] == "auth_request_id" {
			id = m[2]
		}
	}
	if p := b.Get(ti.URL + web.PathSecondFactor + "?authRequestID=" + url.QueryEscape(id)); p.Status != http.StatusForbidden {
		t.Errorf("code page before the password: %d", p.Status)
	}
	for _, action := range []string{web.PathSecondFactor, "/login"} {
		p := b.Submit(lp, action, url.Values{"code": {ti.totpCode(secret)}, "step": {"totp"}})
		if p.URL.Host == "127.0.0.1:9" || p.Status < 400 || (action == web.PathSecondFactor && !strings.Contains(p.Body, codeRefused)) {
			t.Errorf("code posted to %s with the login form's token: %d %s", action, p.Status, p.URL)
		}
	}

	// Password passed in browser A.
	a := signettest.NewBrowser(t)
	cp, ap := passwordStep(app, a)
	if !isCodePage(cp) {
		t.Fatalf("code page: %d %s", cp.Status, cp.URL)
	}
	// Browser B posts A's form: refused (the first factor was passed elsewhere).
	// A posted code that is not for a request open in this browser gets the
	// wrong-code answer: a guesser learns nothing from the difference.
	wantRefused(t, sendCode(signettest.NewBrowser(t), cp, ti.totpCode(secret)), "A's code form posted from browser B")
	if p := signettest.NewBrowser(t).Get(cp.URL.String()); p.Status != http.StatusForbidden {
		t.Errorf("A's code page opened in browser B: %d", p.Status)
	}
	// A forged request id: another live request of the same browser.
	u2, _ := app.AuthURL()
	other := a.Get(u2)
	otherID := ""
	for _, m := range signettest.InputRE.FindAllStringSubmatch(other.Body, -1) {
		if m[1] == "auth_request_id" {
			otherID = m[2]
		}
	}
	wantRefused(t, a.Submit(cp, web.PathSecondFactor, url.Values{"code": {ti.totpCode(secret)}, "auth_request_id": {otherID}}), "code form posted for another request")
	wantRefused(t, a.Submit(cp, web.PathSecondFactor, url.Values{"code": {ti.totpCode(secret)}, "auth_request_id": {"forged-" + id}}), "code form posted for a made-up request")
	if usr := ti.user("alice"); usr.TOTP.Failures != 0 || usr.TOTP.LastStep >= totp.Step(ti.Clock.Now()) {
		t.Fatalf("refused posts changed the state: %+v", usr.TOTP)
	}

	// Malformed input: the generic answer, nothing counted.
	for _, bad := range []string{"", "abcdef", "12345", "1234567", "12 34 5x", strings.Repeat("9", 100), "<script>", "١٢٣٤٥٦"} {
		wantRefused(t, sendCode(a, cp, bad), "code "+bad)
	}
	if n := ti.user("alice").TOTP.Failures; n != 0 {
		t.Errorf("malformed codes counted %d failures", n)
	}
	// A stale code (two steps old) is refused.
	stale, _ := pqtotp.GenerateCode(secret, ti.Clock.Now().Add(-2*step))
	wantRefused(t, sendCode(a, cp, stale), "a stale code")
	// The right one still works, also when the form is posted to /login.
	wantAuth(t, finish(app, a.Submit(cp, "/login", url.Values{"code": {ti.totpCode(secret)}}), ap), amrMFA, web.ACRMFA)
	// And the completed request cannot take another code.
	ti.nextStep()
	if p := sendCode(a, cp, ti.totpCode(secret)); p.Status == http.StatusOK || p.URL.Host == "127.0.0.1:9" {
		t.Errorf("code posted to a completed request: %d %s", p.Status, p.URL)
	}
}

// Wrong codes back off per account with an increasing delay, every failure gets
// the same answer, and a correct code after the wait clears the count.
func TestTOTPThrottle(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, _ := enrolAlice(ti)
	b := signettest.NewBrowser(t)
	cp, ap := passwordStep(app, b)
	wrong := func() string {
		c := ti.totpCode(secret)
		return c[:5] + string('0'+(c[5]-'0'+1)%10)
	}
	var first signettest.Page
	for i := range totp.FreeFailures {
		p := sendCode(b, cp, wrong())
		wantRefused(t, p, "wrong code")
		if i == 0 {
			first = p
		} else if p.Body != first.Body {
			t.Errorf("failure %d answers differently", i+1)
		}
	}
	u := ti.user("alice")
	if u.TOTP.Failures != totp.FreeFailures || !u.TOTP.LockedUntil.Equal(ti.Clock.Now().Add(totp.Backoff(totp.FreeFailures))) {
		t.Fatalf("after %d failures: %+v", totp.FreeFailures, u.TOTP)
	}
	// While backing off, even the right code is refused, with the same answer.
	locked := sendCode(b, cp, ti.totpCode(secret))
	wantRefused(t, locked, "the right code while backing off")
	if locked.Body != first.Body {
		t.Errorf("backing off answers differently from a wrong code")
	}
	// Another wrong code after the wait doubles the wait.
	ti.Clock.Advance(totp.Backoff(totp.FreeFailures))
	wantRefused(t, sendCode(b, cp, wrong()), "wrong code after the wait")
	if u := ti.user("alice"); !u.TOTP.LockedUntil.Equal(ti.Clock.Now().Add(2 * totp.Backoff(totp.FreeFailures))) {
		t.Errorf("second wait until %s", u.TOTP.LockedUntil)
	}
	ti.Clock.Advance(2 * totp.Backoff(totp.FreeFailures))
	ti.nextStep()
	wantAuth(t, finish(app, sendCode(b, cp, ti.totpCode(secret)), ap), amrMFA, web.ACRMFA)
	if u := ti.user("alice"); u.TOTP.Failures != 0 || !u.TOTP.LockedUntil.IsZero() {
		t.Errorf("a correct code did not clear the count: %+v", u.TOTP)
	}
}

// The account pages: signing in to them takes the second factor too; changes
// need the password or a current code; a password-only session needs a code.
func TestTOTPAccountManage(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	// A password-only session (signed in before enrolling) may not use the
	// password to change the second factor: it must show a code.
	b := signettest.NewBrowser(t)
	secret, _, _ := enrolOn(b, ti, accountSignIn(b, ti, "alice", alicePassword))
	ti.nextStep()
	mp := b.Get(ti.URL + web.PathAccountTOTP)
	if mp.Status != http.StatusOK || !strings.Contains(mp.Body, `id="totp-status"`) || strings.Contains(mp.Body, `name="password"`) {
		t.Fatalf("management page of a password-only session: %d\n%s", mp.Status, mp.Body)
	}
	p := b.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "password": {alicePassword}})
	if p.Status != http.StatusUnauthorized || !ti.user("alice").TOTP.Enrolled() {
		t.Fatalf("removal with the password from a password-only session: %d", p.Status)
	}
	// New recovery codes with a code.
	p = b.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"recovery"}, "code": {ti.totpCode(secret)}})
	r := recoveryRE.FindStringSubmatch(p.Body)
	if p.Status != http.StatusOK || r == nil {
		t.Fatalf("new recovery codes: %d\n%s", p.Status, p.Body)
	}
	fresh := strings.Fields(r[1])

	// Signing in to the account pages with a second factor: password, then code.
	a := signettest.NewBrowser(t)
	lp := a.Get(ti.URL + web.PathAccountLogin)
	cp := a.Submit(lp, web.PathAccountLogin, url.Values{"username": {"alice"}, "password": {alicePassword}})
	if !isCodePage(cp) || !strings.Contains(cp.Body, "Signet account") {
		t.Fatalf("account sign-in of an enrolled person: %d %s", cp.Status, cp.URL)
	}
	if p := a.Get(ti.URL + web.PathAccountTOTP); p.URL.Path != web.PathAccountLogin {
		t.Errorf("account page reachable with the password alone: %s", p.URL)
	}
	wantRefused(t, sendCode(a, cp, "000000"), "wrong code at account sign-in")
	mp = sendCode(a, cp, fresh[0])
	if mp.URL.Path != web.PathAccountTOTP || !strings.Contains(mp.Body, `id="totp-status"`) || !strings.Contains(mp.Body, `name="password"`) {
		t.Fatalf("after the account code: %d %s\n%s", mp.Status, mp.URL, mp.Body)
	}
	// This session used both factors: the password confirms. A wrong one does not.
	if p := a.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}, "password": {"wrong"}}); p.Status != http.StatusUnauthorized || secretRE.MatchString(p.Body) {
		t.Errorf("re-enrolment with a wrong password: %d", p.Status)
	}
	if p := a.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}}); p.Status != http.StatusUnauthorized {
		t.Errorf("re-enrolment with nothing: %d", p.Status)
	}
	// Re-enrolment: a new secret, confirmed by its code, replaces the old one.
	ep := a.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}, "password": {alicePassword}})
	secret2, newCodes, _ := enrolOn(a, ti, ep)
	if secret2 == secret {
		t.Fatal("re-enrolment kept the secret")
	}
	ti.nextStep()
	b2 := signettest.NewBrowser(t)
	cp2, ap2 := passwordStep(app, b2)
	wantRefused(t, sendCode(b2, cp2, ti.totpCode(secret)), "the old secret's code")
	wantRefused(t, sendCode(b2, cp2, fresh[1]), "an old recovery code")
	wantAuth(t, finish(app, sendCode(b2, cp2, newCodes[0]), ap2), amrMFA, web.ACRMFA)

	// Removal with a current code turns it off; sign-in is a password again.
	mp = a.Get(ti.URL + web.PathAccountTOTP)
	p = a.Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "code": {ti.totpCode(secret2)}})
	if p.URL.Path != web.PathAccountTOTP || secretRE.FindString(p.Body) == "" || ti.user("alice").TOTP.Enrolled() {
		t.Fatalf("removal: %d %s", p.Status, p.URL)
	}
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c authClaims
	app.VerifyID(tok, ap.Nonce).Claims(&c)
	wantAuth(t, c, amrPwd, web.ACRPassword)

	// A form of the account pages from another session is refused.
	if p := signettest.NewBrowser(t).Submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}}); p.URL.Path != web.PathAccountLogin {
		t.Errorf("management form without a session: %d %s", p.Status, p.URL)
	}
}

// ResetMFA (the admin's "user mfa reset") removes the second factor; the person
// then signs in with the password alone.
func TestTOTPResetMFA(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	enrolAlice(ti)
	if err := web.ResetMFA(ti.Ctx, ti.srv.store, ti.user("alice").ID); err != nil {
		t.Fatal(err)
	}
	u := ti.user("alice")
	if u.TOTP.Enrolled() || len(u.TOTP.RecoveryCodes) != 0 {
		t.Fatalf("after reset: %+v", u.TOTP)
	}
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c authClaims
	app.VerifyID(tok, ap.Nonce).Claims(&c)
	wantAuth(t, c, amrPwd, web.ACRPassword)
}

// Nothing logged while enrolling and signing in holds a code, the secret or a
// recovery code.
func TestTOTPNeverLogsCodes(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	// Without times, so that no digits but the logged values appear.
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}}))
	ti := startIssuerOpts(t, []serverOption{withLogger(log)})
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, recovery := enrolAlice(ti)
	b := signettest.NewBrowser(t)
	cp, ap := passwordStep(app, b)
	c0 := ti.totpCode(secret)
	wrong := c0[:5] + string('0'+(c0[5]-'0'+1)%10)
	used := []string{wrong, recovery[0]}
	sendCode(b, cp, wrong)
	sendCode(b, cp, "not a code")
	wantAuth(t, finish(app, sendCode(b, cp, recovery[0]), ap), amrMFA, web.ACRMFA)
	b2 := signettest.NewBrowser(t)
	cp, ap = passwordStep(app, b2)
	ti.nextStep()
	c := ti.totpCode(secret)
	used = append(used, c)
	wantAuth(t, finish(app, sendCode(b2, cp, c), ap), amrMFA, web.ACRMFA)
	out := logs.String()
	if !strings.Contains(out, "second_factor_failed") {
		t.Fatalf("failures were not logged at all:\n%s", out)
	}
	for _, s := range append(append(used, secret, strings.ReplaceAll(recovery[0], "-", "")), recovery...) {
		if strings.Contains(out, s) {
			t.Errorf("the log contains %q", s)
		}
	}
}
