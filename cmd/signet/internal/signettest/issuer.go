package signettest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/signet-idp/signet/storage/storagetest/clocktest"
)

// RPHost is where relying parties' redirect URIs point: a port nothing
// listens on, so that Browser stops there and hands the test the redirect.
const RPHost = "127.0.0.1:9"

// The person Start's callers create and SignIn signs in as.
const (
	User     = "alice"
	Password = "correct horse battery"
)

// Issuer is a running issuer as its relying parties and browsers see it.
type Issuer struct {
	T testing.TB
	// URL is the issuer (no trailing slash).
	URL string
	// Clock is the issuer's clock; tests move it instead of sleeping.
	Clock *clocktest.Clock
	// Ctx ends with the test and carries the test server's HTTP client, so
	// that go-oidc and x/oauth2 use it.
	Ctx context.Context
	// RPBase is the prefix of the redirect URIs of clients the tests add.
	RPBase string
}

// Wire builds the handler of an issuer: ctx ends with the test, now is the
// issuer's clock. It registers its own cleanups (closing storage) with t.
type Wire func(ctx context.Context, now func() time.Time) (http.Handler, error)

// Start serves what wire builds on ln, as issuer url, until the test ends.
func Start(t testing.TB, ln net.Listener, url string, wire Wire) *Issuer {
	t.Helper()
	clk := clocktest.New(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := wire(ctx, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	ts.Start()
	// Registered after wire's cleanups, so it runs before them: the server
	// stops before its storage closes.
	t.Cleanup(ts.Close)
	return &Issuer{T: t, URL: url, Clock: clk, Ctx: oidc.ClientContext(ctx, ts.Client()), RPBase: "http://" + RPHost + "/cb"}
}

// Listen listens on a free loopback port.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
