package provider

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// tokenEndpoint serves the token endpoint: the authorization-code, refresh-token,
// client_credentials (apis.go) and device_code (device.go) grants, and what they
// share (session and grant checks, token minting and signing, the audit line of
// audit.go). It holds only what the grants use; New builds it once. Provider
// asks it too: introspection of refresh tokens, the grant behind a JWT access
// token (jwtaccess.go), the refresh token behind op.Storage's lookups, and the
// client of a device authorization request.
type tokenEndpoint struct {
	store storage.Store
	// op decodes token requests, validates them as the library does, and
	// encrypts opaque access tokens.
	op             *op.Provider
	keys           *keys.Manager
	log            *slog.Logger
	now            func() time.Time
	issuer         string
	lifetimes      Lifetimes
	accessTokenAlg jose.SignatureAlgorithm
	claims         claimRules
	apis           *apiRules
	assertions     *clientAssertions
}

// token serves the token endpoint. The authorization-code and refresh-token grants
// are ours: the library validates the request (client authentication, PKCE,
// redirect URI, scopes) and we issue, store and sign the tokens, so that codes are
// consumed atomically, refresh tokens rotate with reuse detection, and tokens are
// signed with signers built once per key (the library builds one per token and
// cannot set typ "at+jwt"). Every refusal is an OAuth error value, written once
// (writeOAuthError: a 401 carries the Basic challenge); httpRules bounds the
// body and marks the answer no-store.
func (t *tokenEndpoint) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, r, oidc.ErrInvalidRequest().WithDescription("malformed or oversized request body").WithParent(err), basicChallenge)
		return
	}
	var (
		resp *oidc.AccessTokenResponse
		err  error
	)
	if hasClientAssertion(r) {
		// private_key_jwt (clientauth.go): the assertion authenticates the
		// client for whichever grant follows.
		c, err := t.assertions.authenticate(r, t.issuer+PathToken)
		if err != nil {
			writeOAuthError(w, r, err, basicChallenge)
			return
		}
		r = withAssertedClient(r, c.ID)
	}
	if user, _, ok := r.BasicAuth(); ok {
		// One authentication method per request (RFC 6749, section 2.3), and
		// a client_id beside it must name the same client.
		id, _ := url.QueryUnescape(user)
		if r.PostForm.Has("client_secret") {
			writeOAuthError(w, r, oidc.ErrInvalidRequest().WithDescription("use one client authentication method: HTTP Basic or client_secret in the body, not both"), basicChallenge)
			return
		}
		if body := r.PostForm.Get("client_id"); body != "" && body != id {
			writeOAuthError(w, r, oidc.ErrInvalidClient().WithDescription("client_id differs from the authenticated client"), basicChallenge)
			return
		}
	}
	switch grant := r.PostForm.Get("grant_type"); grant {
	case string(oidc.GrantTypeCode):
		resp, err = t.exchangeCode(r)
	case string(oidc.GrantTypeRefreshToken):
		resp, err = t.exchangeRefresh(r)
	case string(oidc.GrantTypeClientCredentials):
		resp, err = t.clientCredentials(r)
	case policy.GrantDeviceCode:
		resp, err = t.deviceToken(r)
	case "":
		err = oidc.ErrInvalidRequest().WithDescription("grant_type is missing")
	default:
		err = oidc.ErrUnsupportedGrantType().WithDescription("supported grant types: authorization_code, refresh_token, client_credentials, " + policy.GrantDeviceCode)
	}
	if err != nil {
		if errors.Is(err, storage.ErrUnavailable) {
			writeUnavailable(t.log, w, r, err)
			return
		}
		writeOAuthError(w, r, err, basicChallenge)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// writeUnavailable answers a request that storage could not serve just now (a
// database restarting): 503 with temporarily_unavailable and Retry-After, so
// that the client tries again rather than taking it as a failed grant. Nothing
// was issued: every token is stored before it is sent.
func writeUnavailable(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	log.WarnContext(r.Context(), "storage unavailable", "event", "storage_unavailable", "path", r.URL.Path, "error", err)
	w.Header().Set("Retry-After", "5")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	json.NewEncoder(w).Encode(&oidc.Error{ErrorType: "temporarily_unavailable", Description: "Signet's storage cannot be reached just now; try again shortly"})
}

// introspectRefresh answers for a refresh token (RFC 7662 covers them; the
// library knows only access tokens). Only the client that holds it may ask:
// a refresh token is that client's credential. ok is false when token is not a
// refresh token of clientID, and the library then tries it as an access token.
func (t *tokenEndpoint) introspectRefresh(ctx context.Context, clientID, token string) (*oidc.IntrospectionResponse, bool) {
	if token == "" {
		return nil, false
	}
	rt, fam, err := t.lookupRefresh(ctx, token)
	if err != nil || rt.ClientID != clientID {
		return nil, false
	}
	inactive := &oidc.IntrospectionResponse{}
	c, err := t.store.GetClient(ctx, clientID)
	if err != nil || !rt.RotatedAt.IsZero() {
		return inactive, true
	}
	// As the refresh grant answers: a disabled person's tokens are dead.
	if u, err := t.store.GetUser(ctx, rt.UserID); err != nil || u.Disabled || !rt.IssuedAt.After(u.TokensValidAfter) {
		return inactive, true
	}
	if _, err := t.familyStands(ctx, c, fam, t.now()); err != nil {
		return inactive, true
	}
	return &oidc.IntrospectionResponse{
		Active: true, Scope: rt.Scopes, ClientID: clientID, TokenType: "refresh_token",
		Expiration: oidc.FromTime(rt.ExpiresAt), IssuedAt: oidc.FromTime(rt.IssuedAt),
		Subject: rt.UserID, Issuer: t.issuer,
	}, true
}

// errNotAllowed answers a token request for a person outside the client's
// allowed groups.
func errNotAllowed() *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("the person is not in a group allowed to use this application")
}

func (t *tokenEndpoint) exchangeCode(r *http.Request) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	req, err := op.ParseAccessTokenRequest(r, t.op.Decoder())
	if err != nil {
		return nil, err
	}
	if req.Code == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("code is missing")
	}
	if req.RedirectURI == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("redirect_uri is missing")
	}
	ar, c, err := t.validateCodeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	if !ar.Done {
		return nil, oidc.ErrInvalidGrant().WithDescription("the authorization is not complete")
	}
	user, err := t.store.GetUser(ctx, ar.UserID)
	if err != nil || user.Disabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user can no longer sign in")
	}
	if !policy.MayUse(user.Groups, c.AllowedGroups) {
		return nil, errNotAllowed()
	}
	now := t.now().UTC()
	scopes := (&authRequest{ar}).GetScopes()
	at, err := t.accessTokenFor(r, c, ar.Resource, scopes, ar.UserID, ar.SessionSID, ar.AuthTime, ar.AMR, now)
	if err != nil {
		return nil, err
	}
	var (
		fam          *storage.RefreshFamily
		rt           *storage.RefreshToken
		refreshToken string
	)
	fam = t.newFamily(c, ar.UserID, scopes, ar.SessionSID, ar.SessionExpiresAt, ar.AuthTime, ar.AMR, ar.ACR, now)
	at.RefreshFamilyID = fam.ID
	if !ar.SessionExpiresAt.IsZero() && !now.Before(ar.SessionExpiresAt) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the sign-in session of this code has ended")
	}
	if _, err := t.grantStands(ctx, c, ar.UserID, ar.SessionSID, now); err != nil {
		return nil, err
	}
	refreshToken = newRefreshTokenValue(now)
	rt = t.newRefreshToken(refreshToken, fam, scopes, now)
	rt.FamilyID = fam.ID
	// Sign while the write commits: the write waits on the disk, the signatures on
	// the CPU. The response is used only if the write succeeded.
	signed := t.signAsync(c, user, at, idClaims{
		nonce: ar.Nonce, acr: ar.ACR, amr: ar.AMR, authTime: ar.AuthTime, sid: ar.SessionSID,
	}, refreshToken)
	switch err := t.store.RedeemCode(signed.writeContext(ctx), hashSecret(req.Code), at, fam, rt); {
	case errors.Is(err, storage.ErrReused):
		t.log.WarnContext(ctx, "authorization code replayed; its tokens are revoked", "event", "code_replay", "subject", ar.UserID, "client", c.ID, "address", r.RemoteAddr)
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was already used; the tokens it issued are revoked")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	// A logout or a grant revocation that ran while the code was redeemed
	// revoked the families it found before this one existed; it ended the
	// session or deleted the grant first, so looking again now catches it.
	if _, err := t.grantStands(ctx, c, ar.UserID, ar.SessionSID, now); err != nil {
		if rerr := t.store.RevokeRefreshFamily(context.WithoutCancel(ctx), fam.ID); rerr != nil {
			t.log.ErrorContext(ctx, "revoke the family of a code redeemed as its grant ended", "client", c.ID, "error", rerr)
		}
		return nil, err
	}
	if ar.SessionSID != "" && ar.SessionExpiresAt.IsZero() {
		// RedeemCode records the session's clients when it knows the session's
		// end; a request without one still gets back-channel logout.
		if err := t.store.AddSessionClient(ctx, ar.SessionSID, c.ID, now.Add(max(t.lifetimes.Session, time.Hour))); err != nil {
			t.log.ErrorContext(ctx, "record session client", "client", c.ID, "error", err)
		}
	}
	return t.issued(ctx, string(oidc.GrantTypeCode), c, user, at, signed)
}

// validateCodeRequest checks a code grant in the order that leaks least and
// protects most: the client is authenticated before the code is looked at (a
// caller without credentials learns nothing about codes); a code already used
// is a replay, whatever verifier it carries, and revokes what its first use
// issued (RFC 6749 section 4.1.2); then the code's client, redirect URI and
// PKCE verifier (whenever the request carried a challenge, and a verifier is
// refused when it did not). The library checks the code and PKCE first.
func (t *tokenEndpoint) validateCodeRequest(ctx context.Context, req *oidc.AccessTokenRequest) (*storage.AuthRequest, *storage.Client, error) {
	opClient, err := t.op.Storage().GetClientByClientID(ctx, req.ClientID)
	if err != nil {
		// As costly as a known client's secret check.
		_ = t.op.Storage().AuthorizeClientIDSecret(ctx, req.ClientID, req.ClientSecret)
		return nil, nil, err
	}
	c := opClient.(*client).c
	// A client that sent an assertion was authenticated by it (token).
	if !c.Public && !assertedBy(ctx, c.ID) {
		if err := op.AuthorizeClientIDSecret(ctx, req.ClientID, req.ClientSecret, t.op.Storage()); err != nil {
			return nil, nil, err
		}
	}
	if !op.ValidateGrantType(opClient, oidc.GrantTypeCode) {
		return nil, nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the authorization code grant")
	}
	invalid := oidc.ErrInvalidGrant().WithDescription("invalid code")
	if len(req.Code) > 256 {
		return nil, nil, invalid
	}
	codeHash := hashSecret(req.Code)
	ar, err := t.store.GetAuthRequestByCode(ctx, codeHash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil, invalid
	case err != nil:
		return nil, nil, oidc.ErrServerError().WithParent(err)
	case ar.ClientID != c.ID:
		return nil, nil, invalid
	case ar.CodeUsed:
		// RedeemCode finds the code used, revokes what it issued and stores
		// nothing of this request.
		err := t.store.RedeemCode(ctx, codeHash, &storage.AccessToken{ID: randomID(18), ClientID: c.ID, UserID: ar.UserID}, nil, nil)
		if err == nil || errors.Is(err, storage.ErrReused) {
			t.log.WarnContext(ctx, "authorization code replayed; its tokens are revoked", "event", "code_replay", "subject", ar.UserID, "client", c.ID)
			return nil, nil, oidc.ErrInvalidGrant().WithDescription("the code was already used; the tokens it issued are revoked")
		}
		return nil, nil, oidc.ErrServerError().WithParent(err)
	case ar.Expired(t.now()):
		return nil, nil, oidc.ErrInvalidGrant().WithDescription("the code has expired")
	case req.RedirectURI != ar.RedirectURI:
		return nil, nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri does not match the authorization request")
	}
	challenge := (&authRequest{ar}).GetCodeChallenge()
	if challenge == nil && c.Public {
		return nil, nil, oidc.ErrInvalidRequest().WithDescription("PKCE required")
	}
	if err := op.AuthorizeCodeChallenge(req.CodeVerifier, challenge); err != nil {
		return nil, nil, err
	}
	return ar, c, nil
}

func (t *tokenEndpoint) exchangeRefresh(r *http.Request) (*oidc.AccessTokenResponse, error) {
	ctx := r.Context()
	req, err := op.ParseRefreshTokenRequest(r, t.op.Decoder())
	if err != nil {
		return nil, err
	}
	// The library refuses a scope outside the grant; Signet narrows to what
	// was granted instead (below), so hide the scope from it.
	asked := slices.DeleteFunc(slices.Clone([]string(req.Scopes)), func(s string) bool { return s == "" })
	req.Scopes = nil
	// Client authentication and client binding.
	validate := op.ValidateRefreshTokenRequest
	if _, ok := assertedClient(ctx); ok {
		validate = t.validateAssertedRefresh
	}
	opReq, opClient, err := validate(ctx, req, t.op)
	if err != nil {
		return nil, err
	}
	rr := opReq.(*refreshRequest)
	if len(asked) > 0 {
		if rr.scopes = grantedOf(asked, rr.rt.Scopes); len(rr.scopes) == 0 {
			return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes was granted")
		}
	}
	c := opClient.(*client).c
	user, err := t.store.GetUser(ctx, rr.rt.UserID)
	if err != nil || user.Disabled {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user can no longer sign in")
	}
	// Removed from the client's allowed groups since the sign-in.
	if !policy.MayUse(user.Groups, c.AllowedGroups) {
		return nil, errNotAllowed()
	}
	// The password changed after this token was issued: its family was revoked
	// then, and this holds even if that revocation was interrupted.
	if !rr.rt.IssuedAt.After(user.TokensValidAfter) {
		return nil, oidc.ErrInvalidGrant().WithDescription("the password changed after this refresh token was issued")
	}
	now := t.now().UTC()
	// Logout and grant revocation revoke families after they end the session
	// or delete the grant; a family that outlived an interrupted one still
	// stops here.
	sess, err := t.familyStands(ctx, c, rr.fam, now)
	if err != nil {
		return nil, err
	}
	refreshToken := newRefreshTokenValue(now)
	next := t.newRefreshToken(refreshToken, rr.fam, rr.rt.Scopes, now)
	// resource= picks another API of the same grant, with no more scope than
	// was granted (RFC 8707, section 2.2).
	at, err := t.accessTokenFor(r, c, "", rr.scopes, rr.rt.UserID, rr.fam.SessionSID, rr.fam.AuthTime, rr.fam.AMR, now)
	if err != nil {
		return nil, err
	}
	// The token's family is the presented token's, which the rotation keeps.
	at.RefreshFamilyID = rr.fam.ID
	// The ID token's inputs are the family's, which rotation does not change.
	signed := t.signAsync(c, user, at, idClaims{
		acr: rr.fam.ACR, amr: rr.fam.AMR, authTime: rr.fam.AuthTime, sid: rr.fam.SessionSID,
	}, refreshToken)
	_, err = t.store.RotateRefreshToken(signed.writeContext(ctx), storage.Rotation{
		OldHash: refreshKey(req.RefreshToken), Now: now, Grace: t.lifetimes.RefreshReuseGrace,
		Next: next, Access: at,
	})
	switch {
	case errors.Is(err, storage.ErrReused):
		t.log.WarnContext(ctx, "rotated refresh token reused; its family is revoked", "event", "refresh_reuse", "subject", rr.rt.UserID, "client", c.ID, "address", r.RemoteAddr)
		return nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used; the grant is revoked")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	case err != nil:
		return nil, oidc.ErrServerError().WithParent(err)
	}
	t.touchSession(ctx, sess, now)
	return t.issued(ctx, string(oidc.GrantTypeRefreshToken), c, user, at, signed)
}

// grantedOf is the scope a refresh asking for asked gets: the scopes it names
// that the grant holds, in the grant's order and each once. A relying party
// that repeats its first scope on every refresh (mod_auth_openidc does) after
// the person unticked an optional one, or named one Signet does not offer,
// gets what was granted of it, never more; /authorize drops unknown scopes the
// same way.
func grantedOf(asked, granted []string) []string {
	var out []string
	for _, sc := range granted {
		if slices.Contains(asked, sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// grantStands reports, as an invalid_grant error, a sign-in session that has
// ended, expired or gone idle (when sid names one) or a third-party client's
// consent that was revoked. It returns the live session sid names, if any.
func (t *tokenEndpoint) grantStands(ctx context.Context, c *storage.Client, userID, sid string, now time.Time) (*storage.Session, error) {
	var live *storage.Session
	if sid != "" {
		// One keyed read: a person signed in many times over has many sessions.
		s, err := t.store.GetUserSessionBySID(ctx, userID, sid)
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return nil, oidc.ErrServerError().WithParent(err)
		case !s.Expired(now) && !s.Idle(now, t.lifetimes.SessionIdle):
			live = s
		}
		if live == nil {
			return nil, oidc.ErrInvalidGrant().WithDescription("the sign-in session of this grant has ended")
		}
	}
	if !c.FirstParty {
		switch _, err := t.store.GetGrant(ctx, userID, c.ID); {
		case errors.Is(err, storage.ErrNotFound):
			return nil, oidc.ErrInvalidGrant().WithDescription("the person has revoked this application's access")
		case err != nil:
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	return live, nil
}

// familyStands is grantStands for a refresh family: an offline_access grant
// outlives its session, not its grant.
func (t *tokenEndpoint) familyStands(ctx context.Context, c *storage.Client, fam *storage.RefreshFamily, now time.Time) (*storage.Session, error) {
	sid := fam.SessionSID
	if fam.Offline {
		sid = ""
	}
	return t.grantStands(ctx, c, fam.UserID, sid, now)
}

// touchSession records a refresh as activity of the session its grant is bound
// to (as Keycloak does), so that an app in use keeps its session from going
// idle; at most as often as the pages record it.
func (t *tokenEndpoint) touchSession(ctx context.Context, s *storage.Session, now time.Time) {
	if s == nil || !s.TouchDue(now, t.lifetimes.SessionIdle) {
		return
	}
	if _, err := t.store.UpdateSession(ctx, s.ID, func(x *storage.Session) error {
		if now.After(x.LastSeen) {
			x.LastSeen = now
		}
		return nil
	}); err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.log.WarnContext(ctx, "record session activity", "error", err)
	}
}

// pendingResponse is a token response being signed in the background.
type pendingResponse struct {
	started, done chan struct{}
	resp          *oidc.AccessTokenResponse
	err           error
	// queued: the signing waits behind others (the CPUs are busy signing).
	queued bool
}

// writeContext is the context for the write that goes with the response. When
// the signing is queued, the write need not start committing before the
// signing starts (storage.CommitDue): the commit then runs beside the
// signatures as before, and until then the store may gather the writes of the
// other answers in the queue into the same commit (fewer commits and syncs at
// the signing limit: RS256 refresh at 32 concurrent, 2.4 writes a commit ->
// 18.6). Otherwise the write commits at once.
func (pr *pendingResponse) writeContext(ctx context.Context) context.Context {
	if !pr.queued {
		return ctx
	}
	return storage.CommitDue(ctx, pr.started)
}

// signAsync starts signing the response; wait returns it. The access token
// record is only read meanwhile (the store sets fields respond does not read).
func (t *tokenEndpoint) signAsync(c *storage.Client, u *storage.User, at *storage.AccessToken, ic idClaims, refreshToken string) *pendingResponse {
	pr := &pendingResponse{started: make(chan struct{}), done: make(chan struct{})}
	snapshot := *at
	pr.queued = goSign(func() {
		close(pr.started)
		defer close(pr.done)
		pr.resp, pr.err = t.respond(c, u, &snapshot, ic, refreshToken)
	})
	return pr
}

func (pr *pendingResponse) wait() (*oidc.AccessTokenResponse, error) {
	<-pr.done
	return pr.resp, pr.err
}

func (t *tokenEndpoint) newAccessToken(c *storage.Client, userID string, scopes []string, sid string, authTime time.Time, amr []string, now time.Time) *storage.AccessToken {
	return &storage.AccessToken{
		// A JWT access token is self-contained: storage keeps no record of it.
		ID: randomID(18), JWT: c.AccessTokenFormat != "opaque", ClientID: c.ID, UserID: userID, Scopes: scopes,
		// The audience is the issuer (its userinfo and introspection), never the
		// client: an access token must not pass an RP's ID-token audience check.
		Audience:   []string{t.issuer},
		SessionSID: sid, AuthTime: authTime, AMR: amr,
		IssuedAt: now, ExpiresAt: now.Add(t.lifetimes.AccessToken),
	}
}

// accessTokenFor makes the access token of a grant: for one API (RFC 8707), the
// one the request's resource parameter names, or the one the grant authorized
// (authorized; "" when it named none and any API of its scopes may be picked),
// or the one its scopes belong to; with that API's scopes only.
func (t *tokenEndpoint) accessTokenFor(r *http.Request, c *storage.Client, authorized string, scopes []string, userID, sid string, authTime time.Time, amr []string, now time.Time) (*storage.AccessToken, error) {
	resource, err := singleParam(r, "resource")
	switch {
	case err != nil:
		return nil, err
	case resource == "":
		resource = authorized
	case authorized != "" && resource != authorized:
		return nil, errInvalidTarget("the resource differs from the one authorized")
	}
	api, atScopes, err := t.apis.apiFor(r.Context(), scopes, resource)
	if err != nil {
		return nil, err
	}
	at := t.newAccessToken(c, userID, atScopes, sid, authTime, amr, now)
	at.Audience = t.apis.audienceOf(api, atScopes)
	return at, nil
}

// newFamily starts the refresh family of a grant. Every grant gets one. One
// granted with offline_access outlives the browser session; any other ends
// with it (logout, or sessionEnd at the latest: the approving session's end,
// lifetimes.session from now when unknown). The family's record outlives it by
// an access token's lifetime: the JWT access tokens it issues name it and are
// judged by its state.
func (t *tokenEndpoint) newFamily(c *storage.Client, userID string, scopes []string, sid string, sessionEnd, authTime time.Time, amr []string, acr string, now time.Time) *storage.RefreshFamily {
	offline := slices.Contains(scopes, oidc.ScopeOfflineAccess)
	fam := &storage.RefreshFamily{
		ID: newFamilyID(now), ClientID: c.ID, UserID: userID, Scopes: scopes,
		AuthTime: authTime, AMR: amr, ACR: acr, SessionSID: sid,
		CreatedAt: now, ExpiresAt: now.Add(t.lifetimes.RefreshTokenAbsolute), Offline: offline,
	}
	if !offline {
		if sessionEnd.IsZero() && t.lifetimes.Session > 0 {
			sessionEnd = now.Add(t.lifetimes.Session)
		}
		if !sessionEnd.IsZero() && sessionEnd.Before(fam.ExpiresAt) {
			fam.ExpiresAt = sessionEnd
		}
	}
	fam.KeepUntil = fam.ExpiresAt.Add(t.lifetimes.AccessToken)
	return fam
}

func (t *tokenEndpoint) newRefreshToken(token string, fam *storage.RefreshFamily, scopes []string, now time.Time) *storage.RefreshToken {
	exp := now.Add(t.lifetimes.RefreshTokenIdle)
	if fam.ExpiresAt.Before(exp) {
		exp = fam.ExpiresAt
	}
	return &storage.RefreshToken{
		Hash: refreshKey(token), ClientID: fam.ClientID, UserID: fam.UserID,
		Scopes: scopes, IssuedAt: now, ExpiresAt: exp,
	}
}

// idClaims are the per-grant inputs of an ID token.
type idClaims struct {
	nonce    string
	acr      string
	amr      []string
	authTime time.Time
	sid      string
}

// accessTokenClaims is an RFC 9068 JWT access token.
type accessTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JWTID    string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	SID      string   `json:"sid,omitempty"`
	// FamilyID names the refresh family (the grant's line of refresh tokens)
	// whose use issued the token: revoking the family ends the token too, with
	// no record of the token stored (jwtaccess.go).
	FamilyID string `json:"fid,omitempty"`
	// Groups is released with the groups scope, as the groups are when the
	// token is issued: APIs authorize on it.
	Groups []string `json:"groups,omitzero"`
}

// idTokenClaims is an OpenID Connect ID token.
type idTokenClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          []string `json:"aud"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time"`
	Nonce             string   `json:"nonce,omitempty"`
	ACR               string   `json:"acr,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	AZP               string   `json:"azp"`
	AtHash            string   `json:"at_hash,omitempty"`
	SID               string   `json:"sid,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	UpdatedAt         int64    `json:"updated_at,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Groups            []string `json:"groups,omitzero"`
}

// respond signs the access token and the ID token and builds the response.
func (t *tokenEndpoint) respond(c *storage.Client, u *storage.User, at *storage.AccessToken, ic idClaims, refreshToken string) (*oidc.AccessTokenResponse, error) {
	snap := t.keys.Snapshot()
	var accessToken string
	if c.AccessTokenFormat == "opaque" {
		var err error
		if accessToken, err = t.op.Crypto().Encrypt(at.ID + ":" + at.UserID); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	} else {
		signer, ok := snap.Signer(t.accessTokenAlg)
		if !ok {
			return nil, oidc.ErrServerError().WithDescription("no active signing key")
		}
		payload, err := json.Marshal(accessTokenClaims{
			Issuer: t.issuer, Subject: at.UserID, Audience: at.Audience,
			Expiry: at.ExpiresAt.Unix(), IssuedAt: at.IssuedAt.Unix(), JWTID: at.ID,
			ClientID: c.ID, Scope: strings.Join(at.Scopes, " "),
			AuthTime: unixOrZero(at.AuthTime), AMR: at.AMR, SID: at.SessionSID, FamilyID: at.RefreshFamilyID,
			Groups: t.claims.groups(u, at.Scopes),
		})
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		if accessToken, err = signer.SignAccessToken(payload); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}

	var idToken string
	if slices.Contains(at.Scopes, oidc.ScopeOpenID) {
		alg := jose.RS256
		if c.IDTokenAlg == string(jose.ES256) {
			alg = jose.ES256
		}
		signer, ok := snap.Signer(alg)
		if !ok {
			return nil, oidc.ErrServerError().WithDescription("no active signing key")
		}
		atHash, err := oidc.ClaimHash(accessToken, alg)
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		claims := idTokenClaims{
			Issuer: t.issuer, Subject: u.ID, Audience: []string{c.ID},
			Expiry: at.IssuedAt.Add(t.lifetimes.IDToken).Unix(), IssuedAt: at.IssuedAt.Unix(),
			AuthTime: ic.authTime.Unix(), Nonce: ic.nonce, ACR: ic.acr, AMR: ic.amr,
			AZP: c.ID, AtHash: atHash, SID: ic.sid,
		}
		rel := t.claims.of(at.Scopes)
		if rel&claimName != 0 {
			claims.Name = u.Name
		}
		if rel&claimPreferredUsername != 0 {
			claims.PreferredUsername = u.Username
		}
		if rel&claimUpdatedAt != 0 {
			// The same claims as userinfo gives for these scopes.
			claims.UpdatedAt = unixOrZero(u.UpdatedAt)
		}
		if rel&claimEmail != 0 {
			claims.Email = u.Email
		}
		if rel&claimEmailVerified != 0 {
			claims.EmailVerified = &u.EmailVerified
		}
		claims.Groups = t.claims.groups(u, at.Scopes)
		payload, err := json.Marshal(claims)
		if err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		if idToken, err = signer.SignJWT(payload); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	return &oidc.AccessTokenResponse{
		AccessToken:  accessToken,
		TokenType:    oidc.BearerToken,
		RefreshToken: refreshToken,
		ExpiresIn:    uint64(at.ExpiresAt.Sub(at.IssuedAt) / time.Second),
		IDToken:      idToken,
		Scope:        at.Scopes,
	}, nil
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
