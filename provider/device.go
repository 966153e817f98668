package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// The device authorization grant (RFC 8628), for command-line tools and TVs:
// the device asks /device_authorization for a device code and a user code,
// shows the user code and where to enter it, and polls the token endpoint
// with the device code. A person enters the user code on the /device page
// (web/ serves it), signs in there with every factor the client requires,
// and approves scope by scope; the pages record the decision on the stored
// request, which the next poll redeems, once.

const (
	// PathDeviceAuthorization is RFC 8628's device authorization endpoint.
	PathDeviceAuthorization = "/device_authorization"
	// PathDevice is where a person enters a user code (web/ serves it):
	// the verification_uri.
	PathDevice = "/device"

	// deviceLifetime is how long a device code and its user code live: long
	// enough to find a phone and sign in, short enough that guessing a user
	// code (throttled) has little to aim at.
	deviceLifetime = 10 * time.Minute
	// deviceInterval is the least time between two polls (RFC 8628, section
	// 3.2: 5 s unless the server says otherwise).
	deviceInterval = 5 * time.Second
	// slowDownStep is what each slow_down answer adds to the interval
	// (section 3.5).
	slowDownStep = 5 * time.Second
)

// deviceAuthorizationResponse is section 3.2's answer.
type deviceAuthorizationResponse struct {
	DeviceCode              string `json:"device_code"`
	UserCode                string `json:"user_code"`
	VerificationURI         string `json:"verification_uri"`
	VerificationURIComplete string `json:"verification_uri_complete"`
	ExpiresIn               int    `json:"expires_in"`
	Interval                int    `json:"interval"`
}

// deviceAuthorization serves POST /device_authorization (section 3.1) for
// clients registered for the device grant: a public client names itself with
// client_id, a confidential one authenticates as at the token endpoint.
// The answer is a value: the response, or an OAuth error written once
// (writeOAuthError: a 401 carries the Basic challenge).
func (p *Provider) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, r, oidc.ErrInvalidRequest().WithDescription("malformed or oversized request body").WithParent(err), basicChallenge)
		return
	}
	resp, err := p.startDevice(r)
	if err != nil {
		writeOAuthError(w, r, err, basicChallenge)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (p *Provider) startDevice(r *http.Request) (*deviceAuthorizationResponse, error) {
	ctx := r.Context()
	c, err := p.tokens.deviceClient(r)
	if err != nil {
		return nil, err
	}
	if !policy.GrantAllowed(c.GrantTypes, policy.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the device authorization grant")
	}
	scopeParam, err := singleParam(r, "scope")
	if err != nil {
		return nil, err
	}
	resource, err := singleParam(r, "resource")
	if err != nil {
		return nil, err
	}
	scopes := p.deviceScopes(c, strings.Fields(scopeParam))
	// As at /authorize: one API per access token, and a request that is
	// neither OpenID nor for an API has nothing to ask for.
	api, _, err := p.apis.apiFor(ctx, scopes, resource)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) && api == nil {
		return nil, oidc.ErrInvalidScope().WithDescription("the openid scope is required, or a scope of an API")
	}
	now := p.now().UTC()
	for range 5 {
		deviceCode, userCode := randomID(32), policy.NewUserCode()
		d := &storage.DeviceAuthorization{
			DeviceCodeHash: hashHex(deviceCode),
			UserCodeHash:   policy.UserCodeHash(p.cfg.SecretKey, userCode),
			ClientID:       c.ID, Scopes: scopes, Resource: resource,
			Interval: deviceInterval, CreatedAt: now, ExpiresAt: now.Add(deviceLifetime),
			Status: storage.DevicePending,
		}
		err := p.store.CreateDeviceAuthorization(ctx, d)
		if errors.Is(err, storage.ErrAlreadyExists) {
			continue // a user code already in use: draw another
		}
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		verify := p.cfg.Issuer + PathDevice
		shown := policy.FormatUserCode(userCode)
		// No code is logged: the user code is all a person needs to approve
		// the request as themselves.
		p.log.InfoContext(ctx, "device authorization started", "event", "device_authorization", "client", c.ID, "scope", scopes)
		return &deviceAuthorizationResponse{
			DeviceCode: deviceCode, UserCode: shown,
			VerificationURI:         verify,
			VerificationURIComplete: verify + "?user_code=" + url.QueryEscape(shown),
			ExpiresIn:               int(deviceLifetime / time.Second),
			Interval:                int(deviceInterval / time.Second),
		}, nil
	}
	return nil, oidc.ErrServerError().WithDescription("no free user code; try again")
}

// deviceScopes is what a device may ask for: supported scopes, each once,
// limited to the client's allowed ones (and openid), as /authorize does.
func (p *Provider) deviceScopes(c *storage.Client, asked []string) []string {
	var out []string
	for _, sc := range asked {
		if !p.scopes[sc] || slices.Contains(out, sc) {
			continue
		}
		if !policy.ClientMayAsk(c.AllowedScopes, sc) {
			continue
		}
		out = append(out, sc)
	}
	return out
}

// deviceClient authenticates the client of a device request: a public client
// by its client_id alone (it has nothing else), a confidential one by its
// secret in HTTP Basic or the body, as at the token endpoint.
func (t *tokenEndpoint) deviceClient(r *http.Request) (*storage.Client, error) {
	ctx := r.Context()
	// A private_key_jwt client: at the token endpoint its assertion was
	// checked already; here it is checked against this endpoint.
	if id, ok := assertedClient(ctx); ok {
		c, err := t.store.GetClient(ctx, id)
		if err != nil {
			return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
		}
		return c, nil
	}
	if hasClientAssertion(r) {
		return t.assertions.authenticate(r, t.issuer+PathDeviceAuthorization)
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if r.PostForm.Has("client_secret") {
			return nil, oidc.ErrInvalidRequest().WithDescription("use one client authentication method: HTTP Basic or client_secret in the body, not both")
		}
		if body := r.PostForm.Get("client_id"); body != "" && body != id {
			return nil, oidc.ErrInvalidClient().WithDescription("client_id differs from the authenticated client")
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || len(id) > 128 {
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	}
	c, err := t.store.GetClient(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// As costly as a known client's secret check, and the same words.
		_ = t.op.Storage().AuthorizeClientIDSecret(ctx, id, secret)
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case c.Public && secret != "":
		return nil, oidc.ErrInvalidClient().WithDescription("a public client has no secret")
	case c.Public:
		return c, nil
	}
	if err := t.op.Storage().AuthorizeClientIDSecret(ctx, id, secret); err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription(clientAuthFailed)
	}
	return c, nil
}

// Outcomes of a poll that stop before any tokens (deviceToken).
var (
	errDeviceUnknown  = errors.New("device code unknown or of another client")
	errDeviceExpired  = errors.New("device code expired")
	errDeviceDenied   = errors.New("device authorization denied")
	errDeviceRedeemed = errors.New("device code already redeemed")
)

// deviceToken serves the token endpoint's device_code grant (section 3.4): the
// device's poll. Each poll records its time; one sooner than the interval after
// the last gets slow_down and lengthens the interval by 5 s (section 3.5),
// whatever the request's state, so that a device polling too fast learns
// nothing until it slows down. An approved request is redeemed once.
func (t *tokenEndpoint) deviceToken(r *http.Request) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	c, err := t.deviceClient(r)
	if err != nil {
		return nil, err
	}
	if !policy.GrantAllowed(c.GrantTypes, policy.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the device authorization grant")
	}
	code, err := singleParam(r, "device_code")
	if err != nil {
		return nil, err
	}
	if code == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("device_code is missing")
	}
	invalid := oidc.ErrInvalidGrant().WithDescription("invalid device code")
	if len(code) > 256 {
		return nil, invalid
	}
	hash := hashHex(code)
	now := t.now().UTC()
	slow := false
	d, err := t.store.UpdateDeviceAuthorization(ctx, hash, func(d *storage.DeviceAuthorization) error {
		slow = false // the update may run more than once
		switch {
		case d.ClientID != c.ID:
			return errDeviceUnknown
		case d.Expired(now):
			return errDeviceExpired
		case d.Status == storage.DeviceRedeemed:
			return errDeviceRedeemed
		case d.Status == storage.DeviceDenied:
			return errDeviceDenied
		}
		if !d.LastPolledAt.IsZero() && now.Sub(d.LastPolledAt) < d.Interval {
			d.Interval += slowDownStep
			slow = true
		}
		d.LastPolledAt = now
		return nil
	})
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, errDeviceUnknown):
		return nil, invalid
	case errors.Is(err, errDeviceExpired):
		return nil, &oidc.Error{ErrorType: oidc.ExpiredToken, Description: "the device code has expired; start again"}
	case errors.Is(err, errDeviceDenied):
		return nil, oidc.ErrAccessDenied().WithDescription("the person denied the request")
	case errors.Is(err, errDeviceRedeemed):
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code was already used")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	case slow:
		return nil, oidc.ErrSlowDown().WithDescription("polled faster than the interval, which is now %d s", int(d.Interval/time.Second))
	case d.Status == storage.DevicePending:
		return nil, oidc.ErrAuthorizationPending().WithDescription("the person has not approved the request yet")
	case d.Status != storage.DeviceApproved:
		return nil, invalid
	}
	return t.redeemDevice(r, c, d, now)
}

// redeemDevice issues the tokens of an approved device request, as a code
// exchange does: an access token for the API its scopes name, a refresh token
// (bound to the approving browser session unless offline_access was granted)
// and an ID token when openid was.
func (t *tokenEndpoint) redeemDevice(r *http.Request, c *storage.Client, d *storage.DeviceAuthorization, now time.Time) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	user, err := t.store.GetUser(ctx, d.UserID)
	if err != nil || user.Disabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user can no longer sign in")
	}
	if !policy.MayUse(user.Groups, c.AllowedGroups) {
		return nil, errNotAllowed()
	}
	scopes := d.GrantedScopes
	at, err := t.accessTokenFor(r, c, d.Resource, scopes, d.UserID, d.SessionSID, d.AuthTime, d.AMR, now)
	if err != nil {
		return nil, err
	}
	fam := t.newFamily(c, d.UserID, scopes, d.SessionSID, d.SessionExpiresAt, d.AuthTime, d.AMR, d.ACR, now)
	at.RefreshFamilyID = fam.ID
	if !d.SessionExpiresAt.IsZero() && !now.Before(d.SessionExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the sign-in session that approved this device has ended")
	}
	if _, err := t.grantStands(ctx, c, d.UserID, d.SessionSID, now); err != nil {
		return nil, err
	}
	refreshToken := newRefreshTokenValue(now)
	rt := t.newRefreshToken(refreshToken, fam, scopes, now)
	signed := t.signAsync(c, user, at, idClaims{
		acr: d.ACR, amr: d.AMR, authTime: d.AuthTime, sid: d.SessionSID,
	}, refreshToken)
	switch err := t.store.RedeemDeviceCode(signed.writeContext(ctx), d.DeviceCodeHash, at, fam, rt); {
	case errors.Is(err, storage.ErrConflict):
		// Another poll redeemed it a moment ago.
		return nil, oidc.ErrInvalidGrant().WithDescription("the device code was already used")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid device code")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	// As after a code exchange: a logout or revocation that ran meanwhile
	// missed this family, and is caught here.
	if _, err := t.grantStands(ctx, c, d.UserID, d.SessionSID, now); err != nil {
		if rerr := t.store.RevokeRefreshFamily(context.WithoutCancel(ctx), fam.ID); rerr != nil {
			t.log.ErrorContext(ctx, "revoke the family of a device code redeemed as its grant ended", "client", c.ID, "error", rerr)
		}
		return nil, err
	}
	return t.issued(ctx, policy.GrantDeviceCode, c, user, at, signed)
}
