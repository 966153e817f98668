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
	ti.t.Helper()
	c, err := pqtotp.GenerateCode(secret, ti.clock.Now())
	if err != nil {
		ti.t.Fatal(err)
	}
	return c
}

// nextStep moves the issuer's clock to the next time step, so that a fresh code
// exists (each code works once).
func (ti *testIssuer) nextStep() { ti.clock.Advance(step) }

func (ti *testIssuer) user(username string) *storage.User {
	ti.t.Helper()
	u, err := ti.srv.store.GetUserByUsername(ti.ctx, username)
	if err != nil {
		ti.t.Fatal(err)
	}
	return u
}

// accountSignIn signs the browser in to the account pages with the password and
// returns the page it lands on.
func (b *browser) accountSignIn(ti *testIssuer, user, pw string) page {
	b.t.Helper()
	p := b.get(ti.URL + web.PathAccountTOTP)
	if p.url.Path != web.PathAccountLogin || !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("account page without a session: %d %s", p.status, p.url)
	}
	return b.login(p, user, pw)
}

// enrolOn completes the enrolment page p and returns the secret and the recovery
// codes.
func (b *browser) enrolOn(ti *testIssuer, p page) (string, []string, page) {
	b.t.Helper()
	m := secretRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		b.t.Fatalf("enrolment page: %d %s\n%s", p.status, p.url, p.body)
	}
	secret := m[1]
	done := b.submit(p, web.PathAccountTOTP, url.Values{"code": {ti.totpCode(secret)}})
	r := recoveryRE.FindStringSubmatch(done.body)
	if done.status != http.StatusOK || r == nil {
		b.t.Fatalf("after the enrolment code: %d %s\n%s", done.status, done.url, done.body)
	}
	codes := strings.Fields(html.UnescapeString(r[1]))
	if len(codes) != totp.RecoveryCodeCount {
		b.t.Fatalf("%d recovery codes: %q", len(codes), codes)
	}
	return secret, codes, done
}

// enrolAlice signs alice in to the account pages in a browser of its own, enrols
// her, and moves the clock past the step of the enrolment code.
func enrolAlice(ti *testIssuer) (string, []string) {
	ti.t.Helper()
	b := newBrowser(ti.t)
	secret, codes, _ := b.enrolOn(ti, b.accountSignIn(ti, "alice", alicePassword))
	ti.nextStep()
	return secret, codes
}

// passwordStep starts a sign-in at app and passes the password; for a person with
// a second factor it returns the code page and the auth params.
func (r *rp) passwordStep(b *browser, extra ...oauth2.AuthCodeOption) (page, authParams) {
	r.ti.t.Helper()
	u, ap := r.authURL(extra...)
	p := b.get(u)
	if !strings.Contains(p.body, `name="password"`) {
		r.ti.t.Fatalf("login page: %d %s", p.status, p.url)
	}
	return b.login(p, "alice", alicePassword), ap
}

func isCodePage(p page) bool {
	return p.status == http.StatusOK && p.url.Path == web.PathSecondFactor &&
		strings.Contains(p.body, `name="code"`) && !strings.Contains(p.body, `name="password"`)
}

func (b *browser) sendCode(p page, code string) page {
	return b.submit(p, web.PathSecondFactor, url.Values{"code": {code}})
}

func wantRefused(t *testing.T, p page, what string) {
	t.Helper()
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, codeRefused) || !isCodeForm(p) {
		t.Errorf("%s: got %d %s, want 401 with the generic message on the code page\n%s", what, p.status, p.url, p.body)
	}
}

func isCodeForm(p page) bool { return strings.Contains(p.body, `id="totp-form"`) }

type authClaims struct {
	Sub string   `json:"sub"`
	SID string   `json:"sid"`
	AMR []string `json:"amr"`
	ACR string   `json:"acr"`
}

// finish exchanges the code in p's redirect and returns the ID token's claims.
func (r *rp) finish(p page, ap authParams) authClaims {
	r.ti.t.Helper()
	tok, err := r.exchange(r.codeFrom(p, ap), ap)
	if err != nil {
		r.ti.t.Fatalf("exchange: %v", err)
	}
	var c authClaims
	if err := r.verifyID(tok, ap.nonce).Claims(&c); err != nil {
		r.ti.t.Fatal(err)
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
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	// Enrolment through the account pages.
	b := newBrowser(t)
	p := b.accountSignIn(ti, "alice", alicePassword)
	if p.url.Path != web.PathAccountTOTP || !strings.Contains(p.body, `src="data:image/png;base64,`) ||
		!strings.Contains(p.body, `name="code"`) {
		t.Fatalf("enrolment page: %d %s\n%s", p.status, p.url, p.body)
	}
	if cc := p.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("enrolment page Cache-Control %q", cc)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") || strings.Contains(csp, "script-src") {
		t.Errorf("enrolment page CSP %q", csp)
	}
	secret := secretRE.FindStringSubmatch(p.body)[1]
	if again := b.get(ti.URL + web.PathAccountTOTP); secretRE.FindStringSubmatch(again.body)[1] != secret {
		t.Errorf("reloading the page changed the secret")
	}
	if ti.user("alice").TOTP.Enrolled() {
		t.Fatal("enrolled before any code")
	}
	// A wrong code does not enrol, and shows the same secret.
	wrong := b.submit(p, web.PathAccountTOTP, url.Values{"code": {"000000"}})
	if wrong.status != http.StatusUnauthorized || !strings.Contains(wrong.body, codeRefused) || !strings.Contains(wrong.body, secret) {
		t.Errorf("wrong enrolment code: %d\n%s", wrong.status, wrong.body)
	}
	secret2, recovery, _ := b.enrolOn(ti, p)
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
	b1 := newBrowser(t)
	cp, ap := app.passwordStep(b1)
	if !isCodePage(cp) {
		t.Fatalf("after the password: %d %s\n%s", cp.status, cp.url, cp.body)
	}
	if sp := b1.get(ti.URL + web.PathAccountTOTP); sp.url.Path != web.PathAccountLogin {
		t.Errorf("a session exists after the password alone: %s", sp.url)
	}
	// The enrolment's code was accepted once: it does not sign in.
	wantRefused(t, b1.sendCode(cp, enrolCode), "the enrolment code replayed")
	ti.nextStep()
	code := ti.totpCode(secret)
	done := b1.sendCode(cp, code)
	c1 := app.finish(done, ap)
	wantAuth(t, c1, amrMFA, web.ACRMFA)

	// The same code, for a second sign-in within the same 30 seconds: refused.
	b2 := newBrowser(t)
	cp2, ap2 := app.passwordStep(b2)
	wantRefused(t, b2.sendCode(cp2, code), "a code used for another sign-in")
	// A wrong code gets the same answer.
	wantRefused(t, b2.sendCode(cp2, code[:5]+string('0'+(code[5]-'0'+1)%10)), "a wrong code")
	// A recovery code works, once, in the same input.
	wantAuth(t, app.finish(b2.sendCode(cp2, recovery[0]), ap2), amrMFA, web.ACRMFA)
	if n := len(ti.user("alice").TOTP.RecoveryCodes); n != totp.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left", n)
	}
	b3 := newBrowser(t)
	cp3, ap3 := app.passwordStep(b3)
	wantRefused(t, b3.sendCode(cp3, recovery[0]), "a used recovery code")
	// Recovery codes are typed loosely: upper case, spaces instead of hyphens.
	loose := strings.ToUpper(strings.ReplaceAll(recovery[1], "-", " "))
	wantAuth(t, app.finish(b3.sendCode(cp3, loose), ap3), amrMFA, web.ACRMFA)

	// The session carries both factors: the next request signs in silently.
	u2, ap4 := app.authURL(oauth2.SetAuthURLParam("prompt", "none"))
	c4 := app.finish(b1.get(u2), ap4)
	wantAuth(t, c4, amrMFA, web.ACRMFA)
	if c4.SID != c1.SID || c4.Sub != c1.Sub {
		t.Errorf("SSO changed the session: %+v vs %+v", c4, c1)
	}
	// So does a request that asks for two steps.
	u5, ap5 := app.authURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	wantAuth(t, app.finish(b1.get(u5), ap5), amrMFA, web.ACRMFA)
}

func totpSecretBytes(secret string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
}

// A session that used only a password (it began before the enrolment) is asked
// for the code alone when an application asks for two steps; the ID token then
// says so, and the session keeps its sid.
func TestTOTPStepUpByACRValues(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	code, ap := app.signIn(b)
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c0 authClaims
	app.verifyID(tok, ap.nonce).Claims(&c0)
	wantAuth(t, c0, amrPwd, web.ACRPassword)

	// Enrol in the same browser: the session stays what it was signed in with.
	p := b.get(ti.URL + web.PathAccountTOTP)
	secret, _, _ := b.enrolOn(ti, p)
	ti.nextStep()

	// prompt=none cannot ask for the code.
	u, ap1 := app.authURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA), oauth2.SetAuthURLParam("prompt", "none"))
	if p := b.get(u); p.url.Query().Get("error") != "interaction_required" || p.url.Query().Get("state") != ap1.state {
		t.Errorf("prompt=none needing a second factor: %s", p.url)
	}

	u, ap2 := app.authURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	cp := b.get(u)
	if !isCodePage(cp) {
		t.Fatalf("step-up: want the code page without a password, got %d %s\n%s", cp.status, cp.url, cp.body)
	}
	c := app.finish(b.sendCode(cp, ti.totpCode(secret)), ap2)
	wantAuth(t, c, amrMFA, web.ACRMFA)
	if c.SID != c0.SID || c.Sub != c0.Sub {
		t.Errorf("step-up changed sid or subject: %+v vs %+v", c, c0)
	}
}

// With the required policy, a person without a second factor is sent to enrol
// and then continues the same request, which completes with two steps.
func TestTOTPRequiredPolicyEnrolsThenContinues(t *testing.T) {
	ti := startIssuer(t, func(c *Config) { c.MFA.Policy = "required" })
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	b := newBrowser(t)
	p, ap := app.passwordStep(b)
	if p.url.Path != web.PathAccountTOTP || p.url.Query().Get("authRequestID") == "" {
		t.Fatalf("want the enrolment page for the request, got %d %s", p.status, p.url)
	}
	if !strings.Contains(p.body, "App app") {
		t.Errorf("the enrolment page does not name the application")
	}
	_, _, done := b.enrolOn(ti, p)
	m := continueRE.FindStringSubmatch(done.body)
	if m == nil || !strings.Contains(m[1], p.url.Query().Get("authRequestID")) {
		t.Fatalf("no link continuing the request:\n%s", done.body)
	}
	c := app.finish(b.get(ti.URL+html.UnescapeString(m[1])), ap)
	wantAuth(t, c, amrMFA, web.ACRMFA)

	// Turning it off is refused under this policy.
	mp := b.get(ti.URL + web.PathAccountTOTP)
	ti.nextStep()
	off := b.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "password": {alicePassword}})
	if off.status != http.StatusBadRequest || !ti.user("alice").TOTP.Enrolled() {
		t.Errorf("removal under the required policy: %d", off.status)
	}
}

// A client that requires two steps, or acr_values asking for them, sends a person
// without a second factor to enrol; other clients do not.
func TestTOTPRequiredByClientOrACR(t *testing.T) {
	ti := startIssuer(t)
	strict := ti.addClient(admin.AddClientInput{ID: "strict", RequireMFA: true})
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	b := newBrowser(t)
	code, ap := app.signIn(b)
	if _, err := app.exchange(code, ap); err != nil {
		t.Fatal(err)
	}
	// Same browser, signed in with a password: strict asks to enrol.
	u, _ := strict.authURL()
	if p := b.get(u); p.url.Path != web.PathAccountTOTP || secretRE.FindString(p.body) == "" {
		t.Errorf("client requiring MFA: got %d %s", p.status, p.url)
	}
	// acr_values at an ordinary client does the same.
	u, _ = app.authURL(oauth2.SetAuthURLParam("acr_values", web.ACRMFA))
	if p := b.get(u); p.url.Path != web.PathAccountTOTP {
		t.Errorf("acr_values asking for MFA: got %d %s", p.status, p.url)
	}
	// Asking for the password level only is satisfied by the password.
	u, ap = app.authURL(oauth2.SetAuthURLParam("acr_values", web.ACRPassword))
	wantAuth(t, app.finish(b.get(u), ap), amrPwd, web.ACRPassword)

	// After enrolling, strict gets two steps.
	secret, _ := enrolAlice(ti)
	b2 := newBrowser(t)
	cp, ap2 := strict.passwordStep(b2)
	if !isCodePage(cp) {
		t.Fatalf("client requiring MFA, person enrolled: %d %s", cp.status, cp.url)
	}
	wantAuth(t, strict.finish(b2.sendCode(cp, ti.totpCode(secret)), ap2), amrMFA, web.ACRMFA)
}

// The code page is bound to its auth request and to the browser that passed the
// password: skipping to it, posting it for another request, or from another
// browser, fails and changes nothing. Malformed and stale codes get the generic
// answer and count nothing.
func TestTOTPBindingAndBadInput(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, _ := enrolAlice(ti)

	// Skipping the password.
	b := newBrowser(t)
	u, _ := app.authURL()
	lp := b.get(u)
	id := ""
	for _, m := range inputRE.FindAllStringSubmatch(lp.body, -1) {
		if m[1] == "auth_request_id" {
			id = m[2]
		}
	}
	if p := b.get(ti.URL + web.PathSecondFactor + "?authRequestID=" + url.QueryEscape(id)); p.status != http.StatusForbidden {
		t.Errorf("code page before the password: %d", p.status)
	}
	for _, action := range []string{web.PathSecondFactor, "/login"} {
		p := b.submit(lp, action, url.Values{"code": {ti.totpCode(secret)}, "step": {"totp"}})
		if p.url.Host == "127.0.0.1:9" || p.status < 400 || (action == web.PathSecondFactor && !strings.Contains(p.body, codeRefused)) {
			t.Errorf("code posted to %s with the login form's token: %d %s", action, p.status, p.url)
		}
	}

	// Password passed in browser A.
	a := newBrowser(t)
	cp, ap := app.passwordStep(a)
	if !isCodePage(cp) {
		t.Fatalf("code page: %d %s", cp.status, cp.url)
	}
	// Browser B posts A's form: refused (the first factor was passed elsewhere).
	// A posted code that is not for a request open in this browser gets the
	// wrong-code answer: a guesser learns nothing from the difference.
	wantRefused(t, newBrowser(t).sendCode(cp, ti.totpCode(secret)), "A's code form posted from browser B")
	if p := newBrowser(t).get(cp.url.String()); p.status != http.StatusForbidden {
		t.Errorf("A's code page opened in browser B: %d", p.status)
	}
	// A forged request id: another live request of the same browser.
	u2, _ := app.authURL()
	other := a.get(u2)
	otherID := ""
	for _, m := range inputRE.FindAllStringSubmatch(other.body, -1) {
		if m[1] == "auth_request_id" {
			otherID = m[2]
		}
	}
	wantRefused(t, a.submit(cp, web.PathSecondFactor, url.Values{"code": {ti.totpCode(secret)}, "auth_request_id": {otherID}}), "code form posted for another request")
	wantRefused(t, a.submit(cp, web.PathSecondFactor, url.Values{"code": {ti.totpCode(secret)}, "auth_request_id": {"forged-" + id}}), "code form posted for a made-up request")
	if usr := ti.user("alice"); usr.TOTP.Failures != 0 || usr.TOTP.LastStep >= totp.Step(ti.clock.Now()) {
		t.Fatalf("refused posts changed the state: %+v", usr.TOTP)
	}

	// Malformed input: the generic answer, nothing counted.
	for _, bad := range []string{"", "abcdef", "12345", "1234567", "12 34 5x", strings.Repeat("9", 100), "<script>", "١٢٣٤٥٦"} {
		wantRefused(t, a.sendCode(cp, bad), "code "+bad)
	}
	if n := ti.user("alice").TOTP.Failures; n != 0 {
		t.Errorf("malformed codes counted %d failures", n)
	}
	// A stale code (two steps old) is refused.
	stale, _ := pqtotp.GenerateCode(secret, ti.clock.Now().Add(-2*step))
	wantRefused(t, a.sendCode(cp, stale), "a stale code")
	// The right one still works, also when the form is posted to /login.
	wantAuth(t, app.finish(a.submit(cp, "/login", url.Values{"code": {ti.totpCode(secret)}}), ap), amrMFA, web.ACRMFA)
	// And the completed request cannot take another code.
	ti.nextStep()
	if p := a.sendCode(cp, ti.totpCode(secret)); p.status == http.StatusOK || p.url.Host == "127.0.0.1:9" {
		t.Errorf("code posted to a completed request: %d %s", p.status, p.url)
	}
}

// Wrong codes back off per account with an increasing delay, every failure gets
// the same answer, and a correct code after the wait clears the count.
func TestTOTPThrottle(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, _ := enrolAlice(ti)
	b := newBrowser(t)
	cp, ap := app.passwordStep(b)
	wrong := func() string {
		c := ti.totpCode(secret)
		return c[:5] + string('0'+(c[5]-'0'+1)%10)
	}
	var first page
	for i := range totp.FreeFailures {
		p := b.sendCode(cp, wrong())
		wantRefused(t, p, "wrong code")
		if i == 0 {
			first = p
		} else if p.body != first.body {
			t.Errorf("failure %d answers differently", i+1)
		}
	}
	u := ti.user("alice")
	if u.TOTP.Failures != totp.FreeFailures || !u.TOTP.LockedUntil.Equal(ti.clock.Now().Add(totp.Backoff(totp.FreeFailures))) {
		t.Fatalf("after %d failures: %+v", totp.FreeFailures, u.TOTP)
	}
	// While backing off, even the right code is refused, with the same answer.
	locked := b.sendCode(cp, ti.totpCode(secret))
	wantRefused(t, locked, "the right code while backing off")
	if locked.body != first.body {
		t.Errorf("backing off answers differently from a wrong code")
	}
	// Another wrong code after the wait doubles the wait.
	ti.clock.Advance(totp.Backoff(totp.FreeFailures))
	wantRefused(t, b.sendCode(cp, wrong()), "wrong code after the wait")
	if u := ti.user("alice"); !u.TOTP.LockedUntil.Equal(ti.clock.Now().Add(2 * totp.Backoff(totp.FreeFailures))) {
		t.Errorf("second wait until %s", u.TOTP.LockedUntil)
	}
	ti.clock.Advance(2 * totp.Backoff(totp.FreeFailures))
	ti.nextStep()
	wantAuth(t, app.finish(b.sendCode(cp, ti.totpCode(secret)), ap), amrMFA, web.ACRMFA)
	if u := ti.user("alice"); u.TOTP.Failures != 0 || !u.TOTP.LockedUntil.IsZero() {
		t.Errorf("a correct code did not clear the count: %+v", u.TOTP)
	}
}

// The account pages: signing in to them takes the second factor too; changes
// need the password or a current code; a password-only session needs a code.
func TestTOTPAccountManage(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})

	// A password-only session (signed in before enrolling) may not use the
	// password to change the second factor: it must show a code.
	b := newBrowser(t)
	secret, _, _ := b.enrolOn(ti, b.accountSignIn(ti, "alice", alicePassword))
	ti.nextStep()
	mp := b.get(ti.URL + web.PathAccountTOTP)
	if mp.status != http.StatusOK || !strings.Contains(mp.body, `id="totp-status"`) || strings.Contains(mp.body, `name="password"`) {
		t.Fatalf("management page of a password-only session: %d\n%s", mp.status, mp.body)
	}
	p := b.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "password": {alicePassword}})
	if p.status != http.StatusUnauthorized || !ti.user("alice").TOTP.Enrolled() {
		t.Fatalf("removal with the password from a password-only session: %d", p.status)
	}
	// New recovery codes with a code.
	p = b.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"recovery"}, "code": {ti.totpCode(secret)}})
	r := recoveryRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || r == nil {
		t.Fatalf("new recovery codes: %d\n%s", p.status, p.body)
	}
	fresh := strings.Fields(r[1])

	// Signing in to the account pages with a second factor: password, then code.
	a := newBrowser(t)
	lp := a.get(ti.URL + web.PathAccountLogin)
	cp := a.submit(lp, web.PathAccountLogin, url.Values{"username": {"alice"}, "password": {alicePassword}})
	if !isCodePage(cp) || !strings.Contains(cp.body, "Signet account") {
		t.Fatalf("account sign-in of an enrolled person: %d %s", cp.status, cp.url)
	}
	if p := a.get(ti.URL + web.PathAccountTOTP); p.url.Path != web.PathAccountLogin {
		t.Errorf("account page reachable with the password alone: %s", p.url)
	}
	wantRefused(t, a.sendCode(cp, "000000"), "wrong code at account sign-in")
	mp = a.sendCode(cp, fresh[0])
	if mp.url.Path != web.PathAccountTOTP || !strings.Contains(mp.body, `id="totp-status"`) || !strings.Contains(mp.body, `name="password"`) {
		t.Fatalf("after the account code: %d %s\n%s", mp.status, mp.url, mp.body)
	}
	// This session used both factors: the password confirms. A wrong one does not.
	if p := a.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}, "password": {"wrong"}}); p.status != http.StatusUnauthorized || secretRE.MatchString(p.body) {
		t.Errorf("re-enrolment with a wrong password: %d", p.status)
	}
	if p := a.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}}); p.status != http.StatusUnauthorized {
		t.Errorf("re-enrolment with nothing: %d", p.status)
	}
	// Re-enrolment: a new secret, confirmed by its code, replaces the old one.
	ep := a.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"reenrol"}, "password": {alicePassword}})
	secret2, newCodes, _ := a.enrolOn(ti, ep)
	if secret2 == secret {
		t.Fatal("re-enrolment kept the secret")
	}
	ti.nextStep()
	b2 := newBrowser(t)
	cp2, ap2 := app.passwordStep(b2)
	wantRefused(t, b2.sendCode(cp2, ti.totpCode(secret)), "the old secret's code")
	wantRefused(t, b2.sendCode(cp2, fresh[1]), "an old recovery code")
	wantAuth(t, app.finish(b2.sendCode(cp2, newCodes[0]), ap2), amrMFA, web.ACRMFA)

	// Removal with a current code turns it off; sign-in is a password again.
	mp = a.get(ti.URL + web.PathAccountTOTP)
	p = a.submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}, "code": {ti.totpCode(secret2)}})
	if p.url.Path != web.PathAccountTOTP || secretRE.FindString(p.body) == "" || ti.user("alice").TOTP.Enrolled() {
		t.Fatalf("removal: %d %s", p.status, p.url)
	}
	code, ap := app.signIn(newBrowser(t))
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c authClaims
	app.verifyID(tok, ap.nonce).Claims(&c)
	wantAuth(t, c, amrPwd, web.ACRPassword)

	// A form of the account pages from another session is refused.
	if p := newBrowser(t).submit(mp, web.PathAccountTOTPManage, url.Values{"action": {"remove"}}); p.url.Path != web.PathAccountLogin {
		t.Errorf("management form without a session: %d %s", p.status, p.url)
	}
}

// ResetMFA (the admin's "user mfa reset") removes the second factor; the person
// then signs in with the password alone.
func TestTOTPResetMFA(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	enrolAlice(ti)
	if err := web.ResetMFA(ti.ctx, ti.srv.store, ti.user("alice").ID); err != nil {
		t.Fatal(err)
	}
	u := ti.user("alice")
	if u.TOTP.Enrolled() || len(u.TOTP.RecoveryCodes) != 0 {
		t.Fatalf("after reset: %+v", u.TOTP)
	}
	code, ap := app.signIn(newBrowser(t))
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}
	var c authClaims
	app.verifyID(tok, ap.nonce).Claims(&c)
	wantAuth(t, c, amrPwd, web.ACRPassword)
}

// Nothing logged while enrolling and signing in holds a code, the secret or a
// recovery code.
func TestTOTPNeverLogsCodes(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	// Without times, so that no digits but the logged values appear.
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		}})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	secret, recovery := enrolAlice(ti)
	b := newBrowser(t)
	cp, ap := app.passwordStep(b)
	c0 := ti.totpCode(secret)
	wrong := c0[:5] + string('0'+(c0[5]-'0'+1)%10)
	used := []string{wrong, recovery[0]}
	b.sendCode(cp, wrong)
	b.sendCode(cp, "not a code")
	wantAuth(t, app.finish(b.sendCode(cp, recovery[0]), ap), amrMFA, web.ACRMFA)
	b2 := newBrowser(t)
	cp, ap = app.passwordStep(b2)
	ti.nextStep()
	c := ti.totpCode(secret)
	used = append(used, c)
	wantAuth(t, app.finish(b2.sendCode(cp, c), ap), amrMFA, web.ACRMFA)
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
