package demorp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// PathBackchannelLogout is the route of the back-channel logout endpoint; see
// Config.BackchannelLogoutURL.
const PathBackchannelLogout = "/backchannel-logout"

const (
	// backchannelEvent is the member of a logout token's events claim that
	// makes it a back-channel logout token.
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
	// maxBackchannelBytes bounds the body of a back-channel logout request.
	maxBackchannelBytes = 64 << 10
	// clockSkew is how far in the future a logout token's iat may be.
	clockSkew = 5 * time.Minute
	// maxLogoutTokenAge is how long ago a logout token may have been issued:
	// issuers mint one per delivery attempt and expire it within minutes.
	maxLogoutTokenAge = 10 * time.Minute
	// maxSeenJTIs bounds the replay cache of logout token ids.
	maxSeenJTIs = 4096
)

// endSessionEndpoint reads end_session_endpoint from the discovery document.
// It returns "" when there is none or it is not a usable absolute http(s) URL.
func (rp *RP) endSessionEndpoint(ctx context.Context, p *oidc.Provider) string {
	var c struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&c); err != nil || c.EndSession == "" {
		return ""
	}
	u, err := url.Parse(c.EndSession)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || origin(c.EndSession) == "" {
		rp.log.WarnContext(ctx, "demo: ignoring the issuer's end_session_endpoint: not an absolute http(s) URL without fragment", "end_session_endpoint", clip(c.EndSession, 200))
		return ""
	}
	return c.EndSession
}

// withQuery returns endpoint with params added to its query (an endpoint may
// carry a query of its own).
func withQuery(endpoint string, params url.Values) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint // validated at discovery; not reached
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// backchannelLogout is the back-channel logout endpoint (OpenID Connect
// Back-Channel Logout 1.0). The issuer POSTs a logout token; if it passes every
// check of section 2.6, every session of this app that it names is signed out,
// and the answer is 200. Otherwise the answer is 400 with a JSON error, and no
// session changes. The token itself is never logged.
func (rp *RP) backchannelLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBackchannelBytes)
	if err := r.ParseForm(); err != nil {
		rp.refuseLogout(w, r, "the request body is not a form of at most 64 KiB", fmt.Errorf("parse form: %w", err))
		return
	}
	tokens := r.PostForm["logout_token"]
	if len(tokens) != 1 || tokens[0] == "" {
		rp.refuseLogout(w, r, "the request must carry exactly one logout_token form field", errors.New("logout_token missing or repeated"))
		return
	}
	lt, desc, err := rp.verifyLogoutToken(r.Context(), tokens[0])
	if err != nil {
		rp.refuseLogout(w, r, desc, err)
		return
	}
	n := rp.endSessions(lt.SessionID, lt.Subject, rp.now())
	rp.log.InfoContext(r.Context(), "demo: back-channel logout", "sid", lt.SessionID, "sub", lt.Subject, "sessions_ended", n)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// refuseLogout answers a back-channel logout request with 400 and a JSON error
// (section 2.8). desc is for the issuer's operator; cause is for the log.
func (rp *RP) refuseLogout(w http.ResponseWriter, r *http.Request, desc string, cause error) {
	rp.log.InfoContext(r.Context(), "demo: back-channel logout refused", "reason", desc, "error", cause)
	body, _ := json.Marshal(map[string]string{"error": "invalid_request", "error_description": desc})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(append(body, '\n'))
}

// verifyLogoutToken validates a logout token as section 2.6 requires: header typ
// logout+jwt (section 2.4); signature against the issuer's key set with the
// algorithms of its ID tokens, never "none"; iss; aud contains our client id;
// iat present and not too far from now; exp not passed; sub or sid present;
// events holds the back-channel event as a JSON object; no nonce; and a jti not
// seen before. On failure it returns a description for the issuer and an error
// for the log.
//
// The claims are checked on the payload before its signature is: every check is
// a reason to refuse, and only a token whose signature then verifies, over that
// same payload, is accepted.
func (rp *RP) verifyLogoutToken(ctx context.Context, raw string) (*oidc.LogoutToken, string, error) {
	hdr, ok := parseJWTHeader(raw)
	if !ok {
		return nil, "the logout token is not a signed JWT in compact serialization", errors.New("logout token: not a JWS")
	}
	if !isLogoutTokenType(hdr.Typ) {
		return nil, `the logout token's header typ must be "logout+jwt"`, fmt.Errorf("logout token: typ %q", clip(hdr.Typ, 50))
	}
	if desc, err := rp.checkLogoutClaims(raw); err != nil {
		return nil, desc, err
	}
	iss, err := rp.discover(ctx)
	if err != nil {
		return nil, "this app could not fetch the issuer's discovery document to verify the logout token; try again", err
	}
	lt, err := iss.logoutTokens.VerifyLogout(oidc.ClientContext(ctx, rp.client), raw)
	if err != nil {
		if expired, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
			return nil, fmt.Sprintf("the logout token expired at %s", expired.Expiry.UTC().Format(time.RFC3339)), fmt.Errorf("logout token: %w", err)
		}
		return nil, "the logout token failed verification: its signature, algorithm, issuer or audience (which must contain this app's client id) is not acceptable", fmt.Errorf("logout token: %w", err)
	}
	if !rp.seenJTIs.add(lt.TokenID, lt.Expiry, rp.now()) {
		return nil, "this logout token's jti was seen before: a replay", errors.New("logout token: jti replayed")
	}
	return lt, "", nil
}

// checkLogoutClaims checks the claims of a logout token that go-oidc does not,
// or not as strictly: iat, the events claim's shape, a nonce even if null, and
// that sub, sid and jti are strings.
func (rp *RP) checkLogoutClaims(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "the logout token is not a signed JWT in compact serialization", errors.New("logout token: not a JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "the logout token's payload is not base64url", fmt.Errorf("logout token: payload: %w", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil || claims == nil {
		return "the logout token's claims are not a JSON object", fmt.Errorf("logout token: claims: %v", err)
	}
	if _, ok := claims["nonce"]; ok {
		return "a logout token must not contain a nonce claim", errors.New("logout token: nonce present")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(claims["events"], &events); err != nil || events == nil {
		return "the logout token has no events claim holding a JSON object", errors.New("logout token: events missing or not an object")
	}
	event, ok := events[backchannelEvent]
	if !ok {
		return "the logout token's events claim lacks " + backchannelEvent, errors.New("logout token: back-channel event missing")
	}
	if !bytes.HasPrefix(bytes.TrimSpace(event), []byte("{")) {
		return "the value of " + backchannelEvent + " in the events claim must be a JSON object", errors.New("logout token: event value not an object")
	}
	var sid, sub, jti string
	for name, dst := range map[string]*string{"sid": &sid, "sub": &sub, "jti": &jti} {
		v, ok := claims[name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Sprintf("the logout token's %s claim must be a string", name), fmt.Errorf("logout token: %s not a string", name)
		}
	}
	if sid == "" && sub == "" {
		return "the logout token must contain a sid claim, a sub claim, or both", errors.New("logout token: neither sid nor sub")
	}
	if jti == "" {
		return "the logout token must contain a jti claim", errors.New("logout token: no jti")
	}
	var iat float64
	if v, ok := claims["iat"]; !ok || json.Unmarshal(v, &iat) != nil {
		return "the logout token must contain a numeric iat claim", errors.New("logout token: iat missing or not a number")
	}
	issued := time.Unix(int64(iat), 0)
	now := rp.now()
	if issued.After(now.Add(clockSkew)) {
		return "the logout token's iat is in the future", fmt.Errorf("logout token: iat %s is in the future", issued.UTC().Format(time.RFC3339))
	}
	if now.Sub(issued) > maxLogoutTokenAge {
		return fmt.Sprintf("the logout token was issued more than %s ago", maxLogoutTokenAge), fmt.Errorf("logout token: iat %s is too old", issued.UTC().Format(time.RFC3339))
	}
	return "", nil
}

// isLogoutTokenType reports whether a JWS typ header marks a logout token
// ("logout+jwt", or its full media type; compared without regard to case).
func isLogoutTokenType(typ string) bool {
	t := strings.ToLower(typ)
	return t == "logout+jwt" || t == "application/logout+jwt"
}

// endSessions signs out every session whose sign-in the logout ends (see
// signedIn.endedBy): its tokens are dropped and its home page says that the
// issuer signed it out, and when. It returns how many sessions it ended.
//
// Each session is locked in turn, so a handler busy with one (a refresh, say)
// finishes first and its result is then dropped.
func (rp *RP) endSessions(sid, sub string, now time.Time) int {
	n := 0
	for _, s := range rp.sessions.all() {
		s.mu.Lock()
		if s.signedIn != nil && s.signedIn.endedBy(sid, sub) {
			s.signedIn = nil
			s.notice = ""
			s.logout = pendingLogout{}
			s.endedByIssuer = now
			n++
		}
		s.mu.Unlock()
	}
	return n
}

// jtiCache remembers the ids of accepted logout tokens until they expire, so
// that a token cannot be replayed. It holds at most max ids; past that the
// oldest are forgotten first.
type jtiCache struct {
	max int

	mu    sync.Mutex
	seen  map[string]time.Time // jti -> expiry
	order []string             // jtis in the order they were added
}

func newJTICache(max int) *jtiCache {
	return &jtiCache{max: max, seen: make(map[string]time.Time)}
}

// add records jti, valid until exp, and reports whether it was new. An id
// still remembered is refused even if its token has expired since.
func (c *jtiCache) add(jti string, exp, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[jti]; ok {
		return false
	}
	// Forget the oldest ids while they have expired or the cache is full. Each
	// id is in order once, so the map and the queue stay in step.
	for len(c.order) > 0 && (len(c.order) >= c.max || !now.Before(c.seen[c.order[0]])) {
		delete(c.seen, c.order[0])
		c.order = c.order[1:]
	}
	c.seen[jti] = exp
	c.order = append(c.order, jti)
	return true
}

func (c *jtiCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}
