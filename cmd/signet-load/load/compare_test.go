package load

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startTestReference serves a Reference on a loopback port of its own.
func startTestReference(t *testing.T, cfg ReferenceConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	ref, err := NewReference(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: ref}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return cfg.Issuer
}

// TestCompareAgainstReference compares a reference with another (ES256 access
// tokens, RS256 ID tokens): every scenario runs on both sides, with no
// errors, and the second is started with the algorithms the first signs with.
func TestCompareAgainstReference(t *testing.T) {
	base := ReferenceConfig{ClientID: "app", ClientSecret: "s3cret", RedirectURI: "http://127.0.0.1:1/cb",
		AccessTokenAlg: "ES256", IDTokenAlg: "RS256"}
	provider := startTestReference(t, base)
	var gotAlgs []string
	start := func(ctx context.Context, accessAlg, idAlg string) (string, func(), error) {
		gotAlgs = []string{accessAlg, idAlg}
		cfg := base
		cfg.AccessTokenAlg, cfg.IDTokenAlg = accessAlg, idAlg
		return startTestReference(t, cfg), func() {}, nil
	}
	cfg := Config{Issuer: provider, ClientID: "app", ClientSecret: "s3cret", RedirectURI: "http://127.0.0.1:1/cb",
		Username: "demo", Password: "unused", Duration: 300 * time.Millisecond, Concurrency: 4, CodePool: 50}
	var out bytes.Buffer
	cmp, err := Compare(t.Context(), cfg, 2, start, &out)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(gotAlgs, " ") != "ES256 RS256" || cmp.AccessTokenAlg != "ES256" || cmp.IDTokenAlg != "RS256" {
		t.Errorf("reference started with %v (comparison says %s/%s), want ES256 RS256", gotAlgs, cmp.AccessTokenAlg, cmp.IDTokenAlg)
	}
	if len(cmp.Rows) != 2 {
		t.Fatalf("%d rows, want code and refresh", len(cmp.Rows))
	}
	for _, row := range cmp.Rows {
		if len(row.Provider) != 2 || len(row.Reference) != 2 {
			t.Fatalf("%s: %d/%d results, want 2 rounds each", row.Scenario, len(row.Provider), len(row.Reference))
		}
		for i := range row.Provider {
			p, r := row.Provider[i], row.Reference[i]
			if p.Errors+r.Errors > 0 || p.Requests == 0 || r.Requests == 0 {
				t.Errorf("%s round %d: provider %d requests (%d errors: %s), reference %d (%d errors: %s)",
					row.Scenario, i+1, p.Requests, p.Errors, p.FirstError, r.Requests, r.Errors, r.FirstError)
			}
		}
		if row.Ratio <= 0 {
			t.Errorf("%s: ratio %v", row.Scenario, row.Ratio)
		}
	}
	if !strings.Contains(out.String(), "median") {
		t.Errorf("table without medians:\n%s", out.String())
	}

	_, err = Compare(t.Context(), Config{Issuer: provider, Scenarios: []string{Login}}, 1, start, nil)
	if err == nil || !strings.Contains(err.Error(), "reference server has no login") {
		t.Errorf("comparing the login scenario: %v", err)
	}
}

// A reference refuses what a provider refuses: a wrong secret, a wrong PKCE
// verifier, a forged code.
func TestReferenceRefuses(t *testing.T) {
	issuer := startTestReference(t, ReferenceConfig{ClientID: "app", ClientSecret: "s3cret",
		RedirectURI: "http://127.0.0.1:1/cb", AccessTokenAlg: "RS256", IDTokenAlg: "RS256"})
	cfg := Config{Issuer: issuer, ClientID: "app", ClientSecret: "wrong", RedirectURI: "http://127.0.0.1:1/cb",
		Username: "demo", Password: "unused", Duration: 100 * time.Millisecond, Concurrency: 1, Scenarios: []string{Refresh}}
	rep, err := Run(t.Context(), cfg, nil)
	if err == nil {
		if res, _ := rep.Result(Refresh); res.Errors == 0 && res.Requests > 0 {
			t.Error("a wrong client secret was accepted")
		}
	}
	ref, err := NewReference(ReferenceConfig{Issuer: issuer, ClientID: "app", AccessTokenAlg: "RS256", IDTokenAlg: "RS256"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := ref.open(ref.seal(grant{Scope: "openid", Expiry: time.Now().Add(time.Minute).Unix()}), time.Now())
	if err != nil || g.Scope != "openid" {
		t.Errorf("open(seal) = %+v, %v", g, err)
	}
	sealed := ref.seal(grant{Scope: "openid", Expiry: time.Now().Add(time.Minute).Unix()})
	if _, err := ref.open(sealed[:len(sealed)-2]+"AA", time.Now()); err == nil {
		t.Error("a forged code was accepted")
	}
}
