package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/cmd/signet/internal/signettest"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
)

// outageStore is a real store whose token writes fail with
// storage.ErrUnavailable while down is set, as PostgreSQL's do while the
// database restarts.
type outageStore struct {
	*boltstore.Store
	down atomic.Bool
}

func (s *outageStore) RotateRefreshToken(ctx context.Context, r storage.Rotation) (*storage.RefreshFamily, error) {
	if s.down.Load() {
		return nil, storage.ErrUnavailable
	}
	return s.Store.RotateRefreshToken(ctx, r)
}

// TestTokenEndpointWhileStorageIsAway: while storage cannot be reached the token
// endpoint answers 503 temporarily_unavailable with Retry-After (never a 500),
// and once it is back the same refresh token works: nothing the client holds
// was lost.
func TestTokenEndpointWhileStorageIsAway(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.Issuer, cfg.Listen = "http://"+ln.Addr().String(), ln.Addr().String()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	secrets, err := LoadSecrets(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := boltstore.Open(filepath.Join(cfg.DataDir, dbFileName), boltstore.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store := &outageStore{Store: bs}
	t.Cleanup(func() { bs.Close() })
	var s *server
	iss := signettest.Start(t, ln, cfg.Issuer, func(ctx context.Context, now func() time.Time) (http.Handler, error) {
		var err error
		s, err = wire(ctx, cfg, store, secrets, now)
		if err != nil {
			return nil, err
		}
		return s.handler, nil
	})
	ti := &testIssuer{Issuer: iss, srv: s}
	ctx := ti.Ctx
	if _, err := s.admin.AddUser(ctx, admin.AddUserInput{Username: "alice", Email: "alice@example.com", Password: alicePassword}); err != nil {
		t.Fatal(err)
	}
	app := ti.addClient(admin.AddClientInput{ID: "app"})
	code, ap := app.SignIn(signettest.NewBrowser(t))
	tok, err := app.Exchange(code, ap)
	if err != nil {
		t.Fatal(err)
	}

	store.down.Store(true)
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}
	req, _ := http.NewRequest(http.MethodPost, app.OAuth.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", app.OAuth.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("refresh while storage is away: %d %v (Retry-After %q)", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}

	store.down.Store(false)
	if _, err := app.Refresh(tok.RefreshToken); err != nil {
		t.Fatalf("the same refresh token once storage is back: %v", err)
	}
}
