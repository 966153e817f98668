package main

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/provider/policy"
)

// The device authorization grant (RFC 8628) end to end: x/oauth2's DeviceAuth
// and DeviceAccessToken on one side, a person approving on /device (a real
// Chromium, or the HTTP-level browser) on the other.

// deviceApp is a device client: a TV or a command-line tool.
type deviceApp struct {
	ti    *testIssuer
	oauth oauth2.Config
}

// addDeviceClient registers a client for the device grant only (no redirect
// URIs), public unless secret is wanted.
func (ti *testIssuer) addDeviceClient(id string, public bool, mutate ...func(*admin.AddClientInput)) *deviceApp {
	ti.T.Helper()
	in := admin.AddClientInput{ID: id, Name: "Living-room TV " + id, Public: public, GrantTypes: []string{policy.GrantDeviceCode}}
	for _, m := range mutate {
		m(&in)
	}
	created, err := ti.srv.admin.AddClient(ti.Ctx, in)
	if err != nil {
		ti.T.Fatal(err)
	}
	p, err := oidc.NewProvider(ti.Ctx, ti.URL)
	if err != nil {
		ti.T.Fatal(err)
	}
	ep := p.Endpoint()
	ep.DeviceAuthURL = ti.URL + "/device_authorization"
	return &deviceApp{ti: ti, oauth: oauth2.Config{
		ClientID: created.ClientID, ClientSecret: created.ClientSecret, Endpoint: ep,
		Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess},
	}}
}

// start asks for a device code as the device would.
func (d *deviceApp) start(opts ...oauth2.AuthCodeOption) *oauth2.DeviceAuthResponse {
	d.ti.T.Helper()
	if d.oauth.ClientSecret != "" {
		// x/oauth2's DeviceAuth sends no secret: a confidential client adds it.
		opts = append(opts, oauth2.SetAuthURLParam("client_secret", d.oauth.ClientSecret))
	}
	da, err := d.oauth.DeviceAuth(d.ti.Ctx, opts...)
	if err != nil {
		d.ti.T.Fatalf("device authorization: %v", err)
	}
	return da
}

// poll makes one token request with the device code, as DeviceAccessToken
// does at each tick, and returns the status and the JSON answer.
func (d *deviceApp) poll(deviceCode string) (int, map[string]any) {
	d.ti.T.Helper()
	form := url.Values{"grant_type": {policy.GrantDeviceCode}, "device_code": {deviceCode}, "client_id": {d.oauth.ClientID}}
	req, _ := http.NewRequest(http.MethodPost, d.ti.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if d.oauth.ClientSecret != "" {
		req.SetBasicAuth(d.oauth.ClientID, d.oauth.ClientSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.ti.T.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// wantPoll polls and fails unless the answer is the OAuth error want.
func (d *deviceApp) wantPoll(deviceCode, want string) map[string]any {
	d.ti.T.Helper()
	status, m := d.poll(deviceCode)
	if m["error"] != want || status != http.StatusBadRequest {
		d.ti.T.Fatalf("poll: %d %v, want 400 %s", status, m, want)
	}
	return m
}

// enterCode opens the verification page in b and submits code; it returns
// the page the code leads to.
func enterCode(t *testing.T, b *signettest.Browser, ti *testIssuer, code string) signettest.Page {
	t.Helper()
	p := b.Get(ti.URL + "/device")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, `name="user_code"`) {
		t.Fatalf("device page: %d %s", p.Status, p.Body)
	}
	return b.Submit(p, "/device", url.Values{"user_code": {code}})
}

// approveHTTP enters the code, signs in as alice and decides.
func approveHTTP(t *testing.T, b *signettest.Browser, ti *testIssuer, code, decision string, fields url.Values) signettest.Page {
	t.Helper()
	p := enterCode(t, b, ti, code)
	if strings.Contains(p.URL.Path, "/login") {
		p = b.Login(p, "alice", alicePassword)
	}
	if p.URL.Path != "/device/consent" || !strings.Contains(p.Body, `value="allow"`) {
		t.Fatalf("expected the device consent page, got %d %s\n%s", p.Status, p.URL, p.Body)
	}
	if fields == nil {
		fields = url.Values{}
	}
	fields.Set("decision", decision)
	return b.Submit(p, "/device/consent", fields)
}

// TestDeviceFlowBrowser: a TV asks with x/oauth2's DeviceAuth, a person opens
// verification_uri_complete in Chromium, signs in, sees which app asks, unticks
// one scope and allows; DeviceAccessToken then gets an access token for the API
// its scopes name, a refresh token and an ID token, each with the approved
// scopes only, and the device code redeems once.
func TestDeviceFlowBrowser(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	ti, _ := startAPIIssuer(t)
	c := signettest.NewChrome(t)
	tv := ti.addDeviceClient("tv", true)
	tv.oauth.Scopes = append(tv.oauth.Scopes, "calendar.read")

	// The discovery document offers the grant.
	var disc struct {
		DeviceEndpoint string   `json:"device_authorization_endpoint"`
		Grants         []string `json:"grant_types_supported"`
	}
	resp, err := http.Get(ti.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if disc.DeviceEndpoint != ti.URL+"/device_authorization" || !slices.Contains(disc.Grants, policy.GrantDeviceCode) {
		t.Fatalf("discovery: device endpoint %q, grants %v", disc.DeviceEndpoint, disc.Grants)
	}

	da := tv.start()
	if !regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`).MatchString(da.UserCode) {
		t.Fatalf("user code %q is not eight letters of the alphabet shown as XXXX-XXXX", da.UserCode)
	}
	if da.VerificationURI != ti.URL+"/device" || da.VerificationURIComplete != ti.URL+"/device?user_code="+url.QueryEscape(da.UserCode) || da.Interval != 5 {
		t.Fatalf("device authorization: %+v", da)
	}

	c.Open(da.VerificationURIComplete, "user_code")
	typed, err := chromedp.Run(c.Ctx, chromedp.Value(chromedp.ID("user_code")))
	if err != nil || typed != da.UserCode {
		t.Fatalf("the code field holds %q, want %q from verification_uri_complete", typed, da.UserCode)
	}
	c.Click("submit", "username")
	c.Fill("username", "alice", "password", alicePassword)
	c.Click("submit", "allow")
	if got := c.Text("client-name"); got != "Living-room TV tv" {
		t.Fatalf("the approval page names %q", got)
	}
	c.Do("untick profile", chromedp.Click(chromedp.ID("scope-profile")))
	c.Click("allow", "device-result")
	if !strings.Contains(c.Text("device-result"), "connected") {
		t.Fatalf("after allow: %s", c.BodyText())
	}

	ctx, cancel := context.WithTimeout(ti.Ctx, 20*time.Second)
	defer cancel()
	tok, err := tv.oauth.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	scope, _ := tok.Extra("scope").(string)
	if strings.Contains(scope, "profile") || !strings.Contains(scope, "calendar.read") || tok.RefreshToken == "" {
		t.Fatalf("token: scope %q, refresh token %t", scope, tok.RefreshToken != "")
	}
	_, claims := signettest.JWTParts(t, tok.AccessToken)
	if aud := toStrings(claims["aud"]); !slices.Equal(aud, []string{calendarAPI, ti.URL}) {
		t.Errorf("access token aud = %v, want the calendar API and the issuer", aud)
	}
	rawID, _ := tok.Extra("id_token").(string)
	p, _ := oidc.NewProvider(ti.Ctx, ti.URL)
	idt, err := p.Verifier(&oidc.Config{ClientID: "tv", Now: ti.Clock.Now}).Verify(ti.Ctx, rawID)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Subject != ti.user("alice").ID {
		t.Errorf("ID token sub = %q", idt.Subject)
	}
	// offline_access was granted: the refresh token works.
	if _, err := tv.oauth.TokenSource(ti.Ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	// Once only.
	ti.Clock.Advance(10 * time.Second)
	tv.wantPoll(da.DeviceCode, "invalid_grant")
}

// TestDeviceFlowHTTP: the same flow with the HTTP-level browser and
// x/oauth2's poller, for a confidential client; the person's approval is
// remembered as a grant that the account page can revoke.
func TestDeviceFlowHTTP(t *testing.T) {
	t.Parallel() // long, and touches no process-wide state: runs beside the others
	ti := startIssuer(t)
	cli := ti.addDeviceClient("cli", false)
	cli.oauth.Scopes = []string{oidc.ScopeOpenID, "email"}

	// Without its secret a confidential client is refused.
	if _, err := (&oauth2.Config{ClientID: "cli", Endpoint: cli.oauth.Endpoint}).DeviceAuth(ti.Ctx); signettest.OAuthErrorCode(err) != "invalid_client" {
		t.Fatalf("device authorization without the secret: %v", err)
	}
	da := cli.start()
	b := signettest.NewBrowser(t)
	// Lower case, without the dash: the same code.
	p := approveHTTP(t, b, ti, strings.ToLower(strings.ReplaceAll(da.UserCode, "-", "")), "allow", nil)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "is connected") {
		t.Fatalf("after allow: %d %s", p.Status, p.Body)
	}
	ctx, cancel := context.WithTimeout(ti.Ctx, 20*time.Second)
	defer cancel()
	tok, err := cli.oauth.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if scope, _ := tok.Extra("scope").(string); scope != "openid email" {
		t.Errorf("scope %q", scope)
	}
	// Without offline_access the refresh token is bound to the approving
	// session: signing out ends it.
	grants, err := ti.srv.admin.ListGrants(ti.Ctx, "alice")
	if err != nil || len(grants) != 1 || grants[0].ClientID != "cli" {
		t.Fatalf("alice's grants: %+v %v", grants, err)
	}
	if err := ti.srv.admin.RevokeGrant(ti.Ctx, admin.GrantRef{Username: "alice", ClientID: "cli"}); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.oauth.TokenSource(ti.Ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); signettest.OAuthErrorCode(err) != "invalid_grant" {
		t.Fatalf("refresh after the grant was revoked: %v", err)
	}
}

// TestDevicePolling: authorization_pending, slow_down when polled faster than
// the interval (which grows by 5 s each time), access_denied after a denial,
// expired_token after the code's lifetime, and a second redemption refused.
func TestDevicePolling(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	tv := ti.addDeviceClient("tv", true)
	web := ti.addDeviceClient("web", true, func(in *admin.AddClientInput) { in.GrantTypes = nil; in.RedirectURIs = []string{ti.RPBase + "/web"} })

	t.Run("slow_down", func(t *testing.T) {
		da := tv.start()
		tv.wantPoll(da.DeviceCode, "authorization_pending")
		tv.wantPoll(da.DeviceCode, "slow_down") // at once: too fast
		m := tv.wantPoll(da.DeviceCode, "slow_down")
		if d, _ := m["error_description"].(string); !strings.Contains(d, "15 s") {
			t.Errorf("second slow_down says %q, want the interval grown to 15 s", d)
		}
		ti.Clock.Advance(10 * time.Second)
		tv.wantPoll(da.DeviceCode, "slow_down") // 10 s < 15 s
		ti.Clock.Advance(20 * time.Second)
		tv.wantPoll(da.DeviceCode, "authorization_pending")
	})
	t.Run("denied", func(t *testing.T) {
		da := tv.start()
		p := approveHTTP(t, signettest.NewBrowser(t), ti, da.UserCode, "deny", nil)
		if !strings.Contains(p.Body, "You denied") {
			t.Fatalf("after deny: %d %s", p.Status, p.Body)
		}
		tv.wantPoll(da.DeviceCode, "access_denied")
	})
	t.Run("expired", func(t *testing.T) {
		da := tv.start()
		ti.Clock.Advance(11 * time.Minute)
		tv.wantPoll(da.DeviceCode, "expired_token")
		// Nor does the code work on the page any more.
		if p := enterCode(t, signettest.NewBrowser(t), ti, da.UserCode); p.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.Body), "That code was not accepted") {
			t.Fatalf("an expired code on the page: %d %s", p.Status, p.URL)
		}
	})
	t.Run("once", func(t *testing.T) {
		da := tv.start()
		approveHTTP(t, signettest.NewBrowser(t), ti, da.UserCode, "allow", nil)
		status, m := tv.poll(da.DeviceCode)
		if status != http.StatusOK || m["access_token"] == nil || m["refresh_token"] == nil || m["id_token"] == nil {
			t.Fatalf("poll after approval: %d %v", status, m)
		}
		ti.Clock.Advance(5 * time.Second)
		tv.wantPoll(da.DeviceCode, "invalid_grant")
		// Another client cannot redeem it either, nor a made-up code.
		tv.wantPoll("not-a-device-code", "invalid_grant")
	})
	t.Run("grant not registered", func(t *testing.T) {
		if _, err := web.oauth.DeviceAuth(ti.Ctx); signettest.OAuthErrorCode(err) != "unauthorized_client" {
			t.Fatalf("device authorization for a client without the grant: %v", err)
		}
	})
}

// TestDeviceUserCodesThrottled: wrong user codes count against the address
// like wrong passwords; once locked, even the right code waits.
func TestDeviceUserCodesThrottled(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t, func(c *Config) { c.Throttle.AddressFailures = 3 })
	tv := ti.addDeviceClient("tv", true)
	da := tv.start()
	b := signettest.NewBrowser(t)
	for i, wrong := range []string{"BCDF-GHJK", "not a code", "ZZZZ-ZZZZ"} {
		p := enterCode(t, b, ti, wrong)
		if p.Status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(p.Body), "That code was not accepted") {
			t.Fatalf("wrong code %d: %d %s", i, p.Status, p.Body)
		}
	}
	if p := enterCode(t, b, ti, da.UserCode); p.Status != http.StatusTooManyRequests {
		t.Fatalf("the right code from a locked address: %d %s", p.Status, p.URL)
	}
	// The lock passes with time (well within the code's lifetime), and the
	// code still works.
	ti.Clock.Advance(2 * time.Minute)
	if p := approveHTTP(t, b, ti, da.UserCode, "allow", nil); !strings.Contains(p.Body, "is connected") {
		t.Fatalf("after the lock: %d %s", p.Status, p.Body)
	}
}

// TestDeviceRequiresMFA: a client that requires a second factor gets one from
// the person approving the device too (here enrolled on the way), and the ID
// token says so.
func TestDeviceRequiresMFA(t *testing.T) {
	t.Parallel()
	ti := startIssuer(t)
	tv := ti.addDeviceClient("tv", true, func(in *admin.AddClientInput) { in.RequireMFA = true })
	da := tv.start()
	b := signettest.NewBrowser(t)
	p := enterCode(t, b, ti, da.UserCode)
	p = b.Login(p, "alice", alicePassword)
	_, _, p = enrolOn(b, ti, p)
	m := continueRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no way on after enrolment: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.Get(ti.URL + html.UnescapeString(m[1]))
	if p.URL.Path != "/device/consent" {
		t.Fatalf("after the second factor: %d %s\n%s", p.Status, p.URL, p.Body)
	}
	p = b.Submit(p, "/device/consent", url.Values{"decision": {"allow"}})
	if !strings.Contains(p.Body, "is connected") {
		t.Fatalf("after allow: %d %s", p.Status, p.Body)
	}
	status, tok := tv.poll(da.DeviceCode)
	if status != http.StatusOK {
		t.Fatalf("poll: %d %v", status, tok)
	}
	_, claims := signettest.JWTParts(t, tok["id_token"].(string))
	if claims["acr"] != "urn:signet:acr:mfa" {
		t.Errorf("ID token acr = %v, want urn:signet:acr:mfa", claims["acr"])
	}
}
