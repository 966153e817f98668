package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	pqtotp "github.com/pquerna/otp/totp"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/demorp"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/web"
)

// startBrowserIssuer is startIssuer for the browser tests: the real wiring on
// 127.0.0.1, with the issuer URL known before wiring, and no test users.
func startBrowserIssuer(t *testing.T) *testIssuer {
	t.Helper()
	ln := signettest.ListenLoopback(t, 5556)
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
	ln := signettest.ListenLoopback(t, 5557)
	rpURL := "http://" + ln.Addr().String()
	dc := demoConfig(ti, demoClientID, rpURL)
	secret, err := seedDemo(ti.Ctx, ti.srv.admin, ti.srv.cfg.DataDir, admin.AddClientInput{
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
	created, err := ti.srv.admin.AddClient(ti.Ctx, admin.AddClientInput{
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
func enrolInBrowser(c *signettest.Chrome, ti *testIssuer, user, pw string) string {
	c.T.Helper()
	ti.Clock.Advance(-step)
	defer ti.Clock.Advance(step)
	c.Open(ti.URL+web.PathAccountTOTP, "login-form")
	c.Fill("username", user, "password", pw)
	c.Click("submit", "totp-enrol-form")
	c.Look("totp-setup", signettest.FullPage)
	secret := c.Text("totp-secret")
	code, err := pqtotp.GenerateCode(secret, ti.Clock.Now())
	if err != nil {
		c.T.Fatal(err)
	}
	c.Fill("code", code)
	c.Click("submit", "recovery-codes")
	c.Look("recovery-codes", signettest.FullPage)
	c.Click("continue", "totp-manage-form")
	c.Look("totp-manage", signettest.FullPage)
	return secret
}
