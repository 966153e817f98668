package main

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/signet-idp/signet/web/admin"
)

// TestAnonymousAuthorizeFloodDoesNotGrowTheDatabase is issue 12's contract:
// 20,000 anonymous /authorize requests from one address, with 1.5 KB state and
// nonce, grow signet.db by less than 16 MiB (in fact by nothing: a request is
// stored only once someone signs in), and a person signing in from another
// address during the flood succeeds.
func TestAnonymousAuthorizeFloodDoesNotGrowTheDatabase(t *testing.T) {
	ti := startIssuer(t)
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	dbPath := filepath.Join(ti.srv.cfg.DataDir, dbFileName)
	before := fileSize(t, dbPath)

	// Characters that a careless JSON encoder escapes into six bytes each.
	long := strings.Repeat("<a&b>", 300)
	q := url.Values{
		"client_id": {"app"}, "redirect_uri": {app.oauth.RedirectURL}, "response_type": {"code"},
		"scope": {"openid profile"}, "state": {long}, "nonce": {long},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
	floodURL := ti.URL + "/authorize?" + q.Encode()
	// The flood comes from 127.0.0.2; the person signs in from 127.0.0.1.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	flooder := &http.Client{
		Transport:     &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 16},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	const total, workers = 20000, 8
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var sent, redirected atomic.Int64
	halfway := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= total {
				if sent.Load() >= total/4 {
					once.Do(func() { close(halfway) })
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, floodURL, nil)
				resp, err := flooder.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						t.Error(err)
					}
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), "/login?authRequestID=") {
					redirected.Add(1)
				}
			}
		})
	}
	<-halfway
	// A person signs in from another address while the flood goes on.
	b := newBrowser(t)
	code, ap := app.signIn(b)
	tok, err := app.exchange(code, ap)
	if err != nil {
		t.Fatalf("sign-in during the flood: %v", err)
	}
	app.verifyID(tok, ap.nonce)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("the flood did not finish in time (%d sent)", sent.Load())
	}
	if redirected.Load() != total {
		t.Fatalf("%d of %d flood requests were sent to the login page", redirected.Load(), total)
	}
	after := fileSize(t, dbPath)
	t.Logf("signet.db: %d bytes before, %d after %d anonymous requests", before, after, total)
	if after-before >= 16<<20 {
		t.Fatalf("signet.db grew by %d bytes", after-before)
	}
	// Only the person's sign-in was stored: well under a megabyte.
	if after-before >= 1<<20 {
		t.Fatalf("signet.db grew by %d bytes: anonymous requests are being stored", after-before)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
