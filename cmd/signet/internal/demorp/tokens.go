package demorp

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// signedIn is what a successful sign-in or refresh leaves in a session.
type signedIn struct {
	token   *oauth2.Token // holds the refresh token; never logged or shown
	subject string        // sub of the ID token from sign-in
	nonce   string        // nonce of the original authentication request
	// idToken is the latest verified ID token, sent back to the issuer as
	// id_token_hint at logout; never logged or shown.
	idToken string
	// sids are the sid claims of the ID tokens received in this sign-in (at
	// most maxSIDs, oldest first): a back-channel logout naming one of them
	// ends it.
	sids []string
	view sessionView // what the page shows, built once when verified
}

// maxSIDs bounds signedIn.sids.
const maxSIDs = 8

// endedBy reports whether a back-channel logout for sid and sub ends this
// sign-in: with a sid, a sign-in whose ID tokens carried that sid (and, if sub
// is given too, of that subject); without one, every sign-in of sub.
func (si *signedIn) endedBy(sid, sub string) bool {
	if sid != "" {
		return slices.Contains(si.sids, sid) && (sub == "" || sub == si.subject)
	}
	return sub != "" && sub == si.subject
}

// sessionView is what the page shows of a signed-in session.
type sessionView struct {
	CSRF        string // filled in at render time
	Subject     string
	Token       tokenView
	IDToken     *claimsView
	IDTokenNote string
	AccessToken accessTokenView
	Userinfo    userinfoView
}

// tokenView describes the token response, without the tokens themselves.
type tokenView struct {
	Type            string
	Scope           string
	ExpiresAt       string
	HasRefreshToken bool
	ReceivedAt      string
}

// accessTokenView is the access token as this app sees it: a verified JWT with
// its claims, a JWT with a problem, or opaque.
type accessTokenView struct {
	Opaque  bool
	Claims  *claimsView // set when the signature, iss and exp checked out
	Problem string      // why the token does not pass, for the user
}

// userinfoView is the userinfo response, or why there is none.
type userinfoView struct {
	Claims  *claimsView
	Problem string
}

// claimsView is a JSON object shown as a table and as indented JSON.
type claimsView struct {
	Header *jwtHeader // nil for a plain JSON response
	Rows   []claimRow
	JSON   string
}

type claimRow struct {
	Name  string
	Value string
	Note  string // e.g. a timestamp as a date
}

// jwtHeader is the part of a JWS header shown and checked.
type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// verifyTokens checks a token response and builds what the page shows. The ID
// token must pass (signature, iss, aud, exp, nonce, at_hash when present) or the
// response is refused. prev is the session being refreshed, or nil at sign-in;
// on refresh the ID token is optional, must name the same subject, and may only
// carry the original nonce. Problems with the access token or userinfo are shown
// on the page rather than refusing the sign-in: the app itself does not rely on
// them.
func (rp *RP) verifyTokens(ctx context.Context, iss *issuer, tok *oauth2.Token, nonce string, prev *signedIn) (*signedIn, *pageError) {
	si := &signedIn{token: tok, nonce: nonce}
	consequence := "Nobody was signed in."
	if prev != nil {
		si.subject = prev.subject
		si.idToken = prev.idToken
		si.sids = slices.Clone(prev.sids)
		consequence = "The new tokens were discarded; the page still shows the previous ones."
	}
	fail := func(desc string, cause error) *pageError {
		return &pageError{
			status:      http.StatusBadGateway,
			title:       "The ID token failed verification",
			description: desc + " " + consequence,
			retry:       prev == nil,
			cause:       cause,
		}
	}

	raw, _ := tok.Extra("id_token").(string)
	switch {
	case raw != "":
		hdr, ok := parseJWTHeader(raw)
		if !ok {
			return nil, fail("It is not a signed JWT.", errors.New("id token: not a JWS in compact form"))
		}
		if isAccessTokenType(hdr.Typ) {
			return nil, fail(`Its header typ is "at+jwt": it is an access token, not an ID token.`, errors.New("id token: typ at+jwt"))
		}
		idt, err := iss.idTokens.Verify(ctx, raw)
		if err != nil {
			return nil, fail(describeVerifyError(err), fmt.Errorf("id token: %w", err))
		}
		switch {
		case prev == nil && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1:
			return nil, fail("Its nonce is not the one this app sent, so it may be a replay.", errors.New("id token: nonce mismatch"))
		case prev != nil && idt.Nonce != "" && idt.Nonce != nonce:
			return nil, fail("Its nonce is not the one of the original sign-in.", errors.New("id token: refreshed nonce mismatch"))
		case prev != nil && idt.Subject != prev.subject:
			return nil, fail("It names a different subject than the ID token from sign-in.", errors.New("id token: refreshed sub mismatch"))
		}
		if idt.AccessTokenHash != "" {
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				return nil, fail("Its at_hash does not match the access token it came with.", fmt.Errorf("id token: %w", err))
			}
		}
		var payload json.RawMessage
		if err := idt.Claims(&payload); err != nil {
			return nil, fail("Its claims could not be read.", fmt.Errorf("id token: %w", err))
		}
		view, err := newClaimsView(payload, hdr)
		if err != nil {
			return nil, fail("Its claims are not a JSON object.", fmt.Errorf("id token: %w", err))
		}
		var sid struct {
			SID string `json:"sid"`
		}
		_ = json.Unmarshal(payload, &sid) // a non-string sid is as good as none
		if sid.SID != "" && !slices.Contains(si.sids, sid.SID) {
			si.sids = append(si.sids, sid.SID)
			if len(si.sids) > maxSIDs {
				si.sids = si.sids[len(si.sids)-maxSIDs:]
			}
		}
		si.subject = idt.Subject
		si.idToken = raw
		si.view.IDToken = view
	case prev == nil:
		return nil, fail("The token response carried no ID token.", errors.New("token response without id_token"))
	default:
		si.view.IDToken = prev.view.IDToken
		si.view.IDTokenNote = "The refresh response carried no new ID token; this is the one from sign-in."
	}

	si.view.Subject = si.subject
	si.view.Token = newTokenView(tok, rp.now())
	si.view.AccessToken = rp.inspectAccessToken(ctx, iss, tok.AccessToken)
	si.view.Userinfo = rp.fetchUserinfo(ctx, iss, tok, si.subject)
	return si, nil
}

// inspectAccessToken verifies a JWT access token (RFC 9068) with the issuer's key
// set: signature, iss, exp, header typ "at+jwt", and client_id equal to ours.
// The audience is not checked: it names the resource server, not this app.
func (rp *RP) inspectAccessToken(ctx context.Context, iss *issuer, raw string) accessTokenView {
	hdr, ok := parseJWTHeader(raw)
	if !ok {
		return accessTokenView{Opaque: true}
	}
	t, err := iss.accessTokens.Verify(ctx, raw)
	if err != nil {
		rp.log.WarnContext(ctx, "demo: access token failed verification", "error", err)
		return accessTokenView{Problem: describeVerifyError(err)}
	}
	var payload json.RawMessage
	if err := t.Claims(&payload); err != nil {
		rp.log.WarnContext(ctx, "demo: access token claims", "error", err)
		return accessTokenView{Problem: "Its claims could not be read."}
	}
	view, err := newClaimsView(payload, hdr)
	if err != nil {
		rp.log.WarnContext(ctx, "demo: access token claims", "error", err)
		return accessTokenView{Problem: "Its claims are not a JSON object."}
	}
	v := accessTokenView{Claims: view}
	var c struct {
		ClientID string `json:"client_id"`
	}
	_ = json.Unmarshal(payload, &c) // a non-string client_id stays empty and fails below
	switch {
	case !isAccessTokenType(hdr.Typ):
		v.Problem = fmt.Sprintf(`Its header typ is %q, not "at+jwt", so it is not an RFC 9068 access token.`, hdr.Typ)
	case c.ClientID != rp.cfg.ClientID:
		v.Problem = fmt.Sprintf("Its client_id claim is %q, not this app's client id %q.", c.ClientID, rp.cfg.ClientID)
	}
	if v.Problem != "" {
		rp.log.WarnContext(ctx, "demo: access token failed verification", "problem", v.Problem)
	}
	return v
}

// fetchUserinfo calls the userinfo endpoint with the access token. The response
// is only shown if its sub is the ID token's (OpenID Connect Core 5.3.2).
func (rp *RP) fetchUserinfo(ctx context.Context, iss *issuer, tok *oauth2.Token, subject string) userinfoView {
	if iss.provider.UserInfoEndpoint() == "" {
		return userinfoView{Problem: "The issuer does not advertise a userinfo endpoint."}
	}
	ui, err := iss.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		rp.log.WarnContext(ctx, "demo: userinfo request failed", "error", err)
		return userinfoView{Problem: "The userinfo request failed; the server log has the details."}
	}
	if ui.Subject != subject {
		rp.log.WarnContext(ctx, "demo: userinfo sub differs from the id token's", "userinfo_sub", ui.Subject, "sub", subject)
		return userinfoView{Problem: fmt.Sprintf("Its sub %q is not the ID token's %q, so it must not be used.", ui.Subject, subject)}
	}
	var payload json.RawMessage
	if err := ui.Claims(&payload); err != nil {
		rp.log.WarnContext(ctx, "demo: userinfo claims", "error", err)
		return userinfoView{Problem: "Its claims could not be read."}
	}
	view, err := newClaimsView(payload, nil)
	if err != nil {
		rp.log.WarnContext(ctx, "demo: userinfo claims", "error", err)
		return userinfoView{Problem: "It is not a JSON object."}
	}
	return userinfoView{Claims: view}
}

// describeVerifyError says, for the user, why a JWT failed go-oidc's checks.
// The details go to the log.
func describeVerifyError(err error) string {
	if expired, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
		return fmt.Sprintf("It expired at %s.", expired.Expiry.UTC().Format(time.RFC3339))
	}
	return "Its signature, issuer, audience or algorithm did not pass the checks against the issuer's key set; the server log has the details."
}

func newTokenView(tok *oauth2.Token, now time.Time) tokenView {
	v := tokenView{
		Type:            tok.Type(),
		HasRefreshToken: tok.RefreshToken != "",
		ReceivedAt:      now.UTC().Format(time.RFC3339),
	}
	if scope, ok := tok.Extra("scope").(string); ok {
		v.Scope = scope
	}
	if !tok.Expiry.IsZero() {
		v.ExpiresAt = tok.Expiry.UTC().Format(time.RFC3339)
	}
	return v
}

// parseJWTHeader decodes the header of a JWS in compact serialization. It
// reports false for anything else, which the caller treats as opaque. The
// header is not trusted until the signature has been verified.
func parseJWTHeader(raw string) (*jwtHeader, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, false
	}
	var h jwtHeader
	if err := json.Unmarshal(b, &h); err != nil || h.Alg == "" {
		return nil, false
	}
	return &h, true
}

// isAccessTokenType reports whether a JWS typ header marks an RFC 9068 access token.
func isAccessTokenType(typ string) bool {
	t := strings.ToLower(typ)
	return t == "at+jwt" || t == "application/at+jwt"
}

// timeClaims are the claims holding seconds since the epoch.
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true, "updated_at": true}

// newClaimsView turns a JSON object into table rows sorted by name, and into
// indented JSON in the object's own order.
func newClaimsView(payload []byte, hdr *jwtHeader) (*claimsView, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("claims: null")
	}
	rows := make([]claimRow, 0, len(m))
	for name, v := range m {
		row := claimRow{Name: name, Value: formatClaim(v)}
		if n, ok := v.(json.Number); ok && timeClaims[name] {
			if sec, err := n.Int64(); err == nil {
				row.Note = time.Unix(sec, 0).UTC().Format(time.RFC3339)
			}
		}
		rows = append(rows, row)
	}
	slices.SortFunc(rows, func(a, b claimRow) int { return strings.Compare(a.Name, b.Name) })
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, payload, "", "  "); err != nil {
		return nil, err
	}
	return &claimsView{Header: hdr, Rows: rows, JSON: pretty.String()}, nil
}

func formatClaim(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
