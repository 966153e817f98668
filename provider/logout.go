package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage"
)

// PathEndSession is the RP-initiated logout endpoint (web/ serves its pages).
const PathEndSession = "/end_session"

// backchannelEvent is the event claim of a logout token.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// Back-channel delivery policy.
const (
	logoutTimeout    = 5 * time.Second
	logoutFirstRetry = 5 * time.Second
	logoutMaxRetry   = 10 * time.Minute
	logoutBatch      = 20
)

// logoutClaims is a back-channel logout token.
type logoutClaims struct {
	Issuer   string                    `json:"iss"`
	Subject  string                    `json:"sub"`
	Audience []string                  `json:"aud"`
	IssuedAt int64                     `json:"iat"`
	Expiry   int64                     `json:"exp"`
	JWTID    string                    `json:"jti"`
	SID      string                    `json:"sid"`
	Events   map[string]map[string]any `json:"events"`
}

// logoutDelivery signs back-channel logout tokens and delivers the notices
// that ending a session queued in storage. It holds only what delivery needs;
// New builds it once.
type logoutDelivery struct {
	store  storage.Store
	keys   *keys.Manager
	issuer string
	log    *slog.Logger
	now    func() time.Time
	client *http.Client
	// queued wakes delivery when a session ended here (Config.LogoutQueued).
	queued <-chan struct{}
}

// LogoutToken signs a back-channel logout token for client c, like its ID tokens.
func (p *Provider) LogoutToken(c *storage.Client, sub, sid string, now time.Time) (string, error) {
	return p.logouts.token(c, sub, sid, now)
}

// DeliverDueLogouts posts every due logout token once and reschedules failures
// with exponential backoff, until they are abandoned after a day. It returns how
// many were delivered.
func (p *Provider) DeliverDueLogouts(ctx context.Context) (int, error) {
	return p.logouts.deliverDue(ctx)
}

// RunLogoutDelivery delivers back-channel logouts until ctx ends: at once when a
// session ends (Config.LogoutQueued), and every few seconds for retries and for
// notices queued elsewhere (the CLI, another replica).
func (p *Provider) RunLogoutDelivery(ctx context.Context) { p.logouts.run(ctx) }

// token signs a back-channel logout token for client c, like its ID tokens.
func (l *logoutDelivery) token(c *storage.Client, sub, sid string, now time.Time) (string, error) {
	alg := jose.RS256
	if c.IDTokenAlg == string(jose.ES256) {
		alg = jose.ES256
	}
	signer, ok := l.keys.Snapshot().Signer(alg)
	if !ok {
		return "", errors.New("no active signing key")
	}
	payload, err := json.Marshal(logoutClaims{
		Issuer: l.issuer, Subject: sub, Audience: []string{c.ID},
		IssuedAt: now.Unix(), Expiry: now.Add(2 * time.Minute).Unix(), JWTID: randomID(16), SID: sid,
		Events: map[string]map[string]any{backchannelEvent: {}},
	})
	if err != nil {
		return "", err
	}
	return signer.SignLogoutToken(payload)
}

// deliverDue posts every due logout token once and reschedules failures with
// exponential backoff, until they are abandoned after a day. It returns how
// many were delivered.
func (l *logoutDelivery) deliverDue(ctx context.Context) (int, error) {
	now := l.now().UTC()
	due, err := l.store.DueLogouts(ctx, now, logoutBatch)
	if err != nil {
		return 0, err
	}
	// Deliver concurrently (bounded), so one client that is down does not delay
	// the others' notices.
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		delivered int
		sem       = make(chan struct{}, 8)
	)
	for _, d := range due {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if l.deliverOne(ctx, d, now) {
				mu.Lock()
				delivered++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return delivered, nil
}

// errClaimed: another delivery loop (another replica's) holds the notice.
var errClaimed = errors.New("logout notice claimed by another delivery")

// logoutLease is how long a claimed notice stays with the loop that claimed
// it: longer than one attempt can take. A replica that dies holding it loses
// it then, and another retries.
const logoutLease = 2*logoutTimeout + 5*time.Second

// deliverOne claims a due notice, attempts it and records the outcome; it
// reports success. Of several replicas that find the same notice due, one
// claims it (a conditional update of its next attempt) and the others leave
// it, so a notice is sent once.
func (l *logoutDelivery) deliverOne(ctx context.Context, d *storage.LogoutDelivery, now time.Time) bool {
	if err := l.store.UpdateLogout(ctx, d.ID, func(x *storage.LogoutDelivery) error {
		if x.NextAttempt.After(now) {
			return errClaimed
		}
		x.NextAttempt = now.Add(logoutLease)
		return nil
	}); err != nil {
		return false
	}
	err := l.deliver(ctx, d, now)
	if err == nil {
		l.store.DeleteLogout(ctx, d.ID)
		return true
	}
	if d.Expired(now) {
		l.log.WarnContext(ctx, "back-channel logout abandoned", "event", "backchannel_logout_abandoned", "client", d.ClientID, "attempts", d.Attempts+1, "error", err)
		l.store.DeleteLogout(ctx, d.ID)
		return false
	}
	backoff := min(logoutFirstRetry<<min(d.Attempts, 16), logoutMaxRetry)
	l.log.InfoContext(ctx, "back-channel logout failed; will retry", "event", "backchannel_logout_failed", "client", d.ClientID, "attempt", d.Attempts+1, "retry_in", backoff, "error", err)
	l.store.UpdateLogout(ctx, d.ID, func(x *storage.LogoutDelivery) error {
		x.Attempts++
		x.NextAttempt = now.Add(backoff)
		x.LastError = err.Error()
		return nil
	})
	return false
}

func (l *logoutDelivery) deliver(ctx context.Context, d *storage.LogoutDelivery, now time.Time) error {
	c, err := l.store.GetClient(ctx, d.ClientID)
	if err != nil || c.BackchannelLogoutURI == "" {
		return nil // the client is gone or no longer listens: nothing to deliver
	}
	tok, err := l.token(c, d.Subject, d.SID, now)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, logoutTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", errors.Unwrap(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// run delivers back-channel logouts until ctx ends: at once when a session
// ends (queued), and every few seconds for retries and for notices queued
// elsewhere (the CLI, another replica).
func (l *logoutDelivery) run(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		if _, err := l.deliverDue(ctx); err != nil && ctx.Err() == nil {
			l.log.ErrorContext(ctx, "back-channel logout delivery", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.queued:
		}
	}
}
