package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/idtoken"
	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/session"
)

// Form token steps of the logout pages.
const (
	stepLogout         = "logout"
	stepLogoutContinue = "logout-continue"
)

// decisionLogout is the value of the confirmation form's "decision" button that
// signs out; any other decision (the "Stay signed in" button) ends nothing.
const decisionLogout = "logout"

// logoutContinueLifetime bounds how long a continuation link (PathEndSessionContinue)
// is valid: it is followed by the browser at once.
const logoutContinueLifetime = 2 * time.Minute

// maxLogoutBody bounds the query of a GET and the form body of a POST to the
// logout endpoints: room for the longest parameters, nothing near the login
// form's bound (which carries sealed auth requests).
const maxLogoutBody = 16 << 10

// logoutParamLimits bounds every parameter the logout endpoints read; a longer or
// repeated one makes the request invalid. An ID token is about 1 KiB.
var logoutParamLimits = map[string]int{
	"id_token_hint":            8 << 10,
	"client_id":                256,
	"post_logout_redirect_uri": 2048,
	"state":                    2048,
	"ui_locales":               256,
	"csrf_token":               128,
	"decision":                 32,
	"r":                        16 << 10,
}

// logoutRequest is a logout as the application asked for it.
type logoutRequest struct {
	// hint is a verified id_token_hint, or nil.
	hint *idtoken.Hint
	// hintRejected is set when the request carried an id_token_hint that did
	// not verify.
	hintRejected bool
	// clientID is the hint's client, or else the client_id parameter.
	clientID    string
	redirectURI string
	state       string
}

// logoutStore is what the logout pages read: the clients (their names and
// registered return addresses) and the sessions a hint may name.
type logoutStore interface {
	storage.Clients
	storage.Sessions
}

// logoutPages serves RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0): the end-session endpoint, its confirmation and the signed-out page.
type logoutPages struct {
	*base
	store    logoutStore
	sessions *session.Manager
	hints    HintVerifier
	access   AccessEnder
}

// logoutEndpoint is the end_session_endpoint. With a verified id_token_hint of the
// browser's current session it signs out at once; otherwise it asks.
func (h *logoutPages) logoutEndpoint(w http.ResponseWriter, r *http.Request) {
	if logoutHead(w, r) {
		return
	}
	v, ok := h.logoutParams(w, r)
	if !ok {
		return
	}
	lr := logoutAsked(v)
	if raw := v.Get("id_token_hint"); raw != "" {
		hint, err := h.logoutVerifyHint(raw)
		switch {
		case err != nil:
			// Forged, foreign or garbled: as if there were none (the person is asked).
			h.log.InfoContext(r.Context(), "id_token_hint rejected at logout", "event", "logout_hint_rejected", "address", r.RemoteAddr, "error", err)
			lr.hintRejected = true
		case lr.clientID != "" && lr.clientID != hint.ClientID:
			h.log.InfoContext(r.Context(), "logout refused: client_id disagrees with id_token_hint", "event", "logout_refused",
				"client", logoutClip(lr.clientID, 64), "hint_client", hint.ClientID, "address", r.RemoteAddr)
			h.errorPage(w, r, http.StatusBadRequest, "Sign-out refused",
				"The application that sent you here is not the one your sign-in was for, so Signet did not sign you out. Return to the application and try again.")
			return
		default:
			lr.hint = &hint
			lr.clientID = hint.ClientID
		}
	}
	if r.Method == http.MethodPost && !h.sessions.HasCookie(r) && logoutFromBrowser(r) {
		// A browser's cross-site POST does not carry the SameSite=Lax session
		// cookie: go on as a top-level GET, which does, with what was verified
		// sealed. A POST from a back end (no browser headers) is answered here,
		// as its GET would be.
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, h.route(PathEndSessionContinue+"?r="+url.QueryEscape(h.logoutSeal(lr))), http.StatusSeeOther)
		return
	}
	h.logoutDecide(w, r, lr)
}

// logoutHead answers a HEAD (a link checker, a prefetch), which never ends
// anything, and reports whether it did.
func logoutHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodHead {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return true
}

// logoutAsked is the logout the parameters ask for, before any id_token_hint
// is verified.
func logoutAsked(v url.Values) logoutRequest {
	return logoutRequest{
		clientID:    v.Get("client_id"),
		redirectURI: v.Get("post_logout_redirect_uri"),
		state:       v.Get("state"),
	}
}

// logoutFromBrowser reports whether a request shows a browser's marks: browsers
// send Origin on every cross-origin POST and Sec-Fetch-Site on every request; a
// back end's HTTP client sends neither.
func logoutFromBrowser(r *http.Request) bool {
	return r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != ""
}

// logoutContinue resumes a POST to the end-session endpoint that carried no
// session cookie.
func (h *logoutPages) logoutContinue(w http.ResponseWriter, r *http.Request) {
	if logoutHead(w, r) {
		return
	}
	v, ok := h.logoutParams(w, r)
	if !ok {
		return
	}
	lr, ok := h.logoutOpen(v.Get("r"))
	if !ok {
		h.errorPage(w, r, http.StatusBadRequest, "Sign-out expired",
			"This sign-out link is not valid or has expired. Nothing was changed. Return to the application and sign out again.")
		return
	}
	h.logoutDecide(w, r, lr)
}

// logoutDecide decides between signing out at once and asking.
func (h *logoutPages) logoutDecide(w http.ResponseWriter, r *http.Request, lr logoutRequest) {
	if !h.sessions.HasCookie(r) {
		h.logoutWithoutCookie(w, r, lr)
		return
	}
	sess, user := h.sessions.Current(r.Context(), r)
	switch {
	case sess == nil:
		// This browser's session has already ended: nothing to end.
		h.logoutSignedOut(w, r, lr, logoutSignedOutData{})
	case lr.hint != nil && logoutHintIsSession(*lr.hint, sess) &&
		(lr.redirectURI == "" || h.logoutRedirect(r.Context(), lr) != ""):
		// A valid hint for this session signs out without asking, unless the
		// request also names a return address the application has not
		// registered: a request that is wrong in part is not acted on for the
		// person without asking them (the hint may have leaked).
		h.logoutFinish(w, r, sess, lr, "id_token_hint")
	default:
		h.logoutShowConfirm(w, r, sess, user, lr)
	}
}

// logoutHintIsSession reports whether a verified id_token_hint was issued in session
// s: its sid is the session's (or, without sid, its subject is the session's
// person).
func logoutHintIsSession(hint idtoken.Hint, s *storage.Session) bool {
	if hint.Subject == "" || hint.Subject != s.UserID {
		return false
	}
	return hint.SID == "" || hint.SID == s.SID
}

type logoutData struct {
	Action    string
	FormToken string
	// ClientID and ClientName name the application that asked, when it is a
	// registered client.
	ClientID   string
	ClientName string
	// PostLogoutRedirectURI and State are carried only when the URI is
	// registered for the client.
	PostLogoutRedirectURI string
	State                 string
	Username              string
	// OtherSignIn marks a valid id_token_hint from another session or person.
	OtherSignIn bool
	// BadReturn marks a post_logout_redirect_uri not registered for the
	// application: Signet asks, and will not go there.
	BadReturn bool
}

// logoutShowConfirm asks the person whether to sign out.
func (h *logoutPages) logoutShowConfirm(w http.ResponseWriter, r *http.Request, sess *storage.Session, user *storage.User, lr logoutRequest) {
	ctx := r.Context()
	data := logoutData{
		Action:      h.route(PathEndSessionConfirm),
		FormToken:   h.formToken(stepLogout, sess.ID),
		Username:    user.Username,
		OtherSignIn: lr.hint != nil && !logoutHintIsSession(*lr.hint, sess),
	}
	if name, ok := h.logoutClientName(ctx, lr.clientID); ok {
		data.ClientID, data.ClientName = lr.clientID, name
		if h.logoutRedirect(ctx, lr) != "" {
			data.PostLogoutRedirectURI, data.State = lr.redirectURI, lr.state
		}
	}
	data.BadReturn = lr.redirectURI != "" && data.PostLogoutRedirectURI == ""
	h.render(w, r, http.StatusOK, "logout", "Sign out of Signet?", data)
}

// logoutConfirm is the confirmation form's answer. Only decision=logout with
// the form token of the browser's session signs out.
func (h *logoutPages) logoutConfirm(w http.ResponseWriter, r *http.Request) {
	v, ok := h.logoutParams(w, r)
	if !ok {
		return
	}
	lr := logoutAsked(v)
	sess, _ := h.sessions.Current(r.Context(), r)
	if sess == nil {
		// Signed out meanwhile (another tab, expiry): nothing to end.
		h.logoutSignedOut(w, r, lr, logoutSignedOutData{})
		return
	}
	if !h.checkFormToken(stepLogout, sess.ID, v.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This sign-out form is not valid for your session. Nothing was changed: you are still signed in.")
		return
	}
	if v.Get("decision") != decisionLogout {
		h.render(w, r, http.StatusOK, "still_signed_in", "Still signed in", nil)
		return
	}
	h.logoutFinish(w, r, sess, lr, "confirmed")
}

// logoutFinish ends the session (with back-channel notices), clears the cookie
// and sends the browser on.
func (h *logoutPages) logoutFinish(w http.ResponseWriter, r *http.Request, sess *storage.Session, lr logoutRequest, how string) {
	ctx := r.Context()
	if err := h.access.EndSession(ctx, sess); err != nil {
		h.log.ErrorContext(ctx, "end session", "subject", sess.UserID, "error", err)
		h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not sign you out. Please try again.")
		return
	}
	h.log.InfoContext(ctx, "signed out", "event", "logout_rp", "subject", sess.UserID, "client", lr.clientID, "sid", sess.SID, "by", how, "address", r.RemoteAddr)
	h.logoutSignedOut(w, r, lr, logoutSignedOutData{Ended: true})
}

// logoutHowWithoutCookie is the "by" of the log line of a logout that a request
// without the session cookie made with an id_token_hint.
const logoutHowWithoutCookie = "id_token_hint without cookie"

// logoutWithoutCookie answers a logout request that carries no session cookie:
// a back end signing its user out (oauth2-proxy's backend logout URL, for one),
// or a browser that is not signed in here. A verified id_token_hint, issued to a
// registered client, whose sid names a live session of the hint's subject ends
// that session, with its back-channel logout notices. Whatever the outcome, the
// answer says what is true: 200 and "signed out" when a session was ended; 200
// and "No session to end" when a hint was given and nothing was ended (logout is
// idempotent: the caller's goal, that session being over, holds, and a back end
// that retries on errors must not loop); 400 when the request is wrong in part
// (an unregistered return address) and so was not acted on; 500 when the
// session could not be ended (try again).
func (h *logoutPages) logoutWithoutCookie(w http.ResponseWriter, r *http.Request, lr logoutRequest) {
	ctx := r.Context()
	if lr.hint == nil {
		// Nothing verified names a sign-in, and there is no session in this
		// browser: nothing to end. When a hint was given but did not verify,
		// the page must not read as if it had worked.
		h.logoutSignedOut(w, r, lr, logoutSignedOutData{Named: lr.hintRejected})
		return
	}
	hint := *lr.hint
	if lr.redirectURI != "" && h.logoutRedirect(ctx, lr) == "" {
		// As with a cookie: a request that is wrong in part is not acted on
		// without asking, and here there is no one to ask.
		h.log.InfoContext(ctx, "logout refused: post_logout_redirect_uri not registered", "event", "logout_refused",
			"subject", hint.Subject, "client", hint.ClientID, "sid", hint.SID, "by", logoutHowWithoutCookie, "address", r.RemoteAddr)
		h.errorPage(w, r, http.StatusBadRequest, "Sign-out refused",
			"The request asked to return to an address the application has not registered with Signet, so Signet ended nothing. Return to the application and try again.")
		return
	}
	sess, reason, err := h.logoutNamedSession(ctx, hint)
	if err == nil && sess != nil {
		if err = h.access.EndSession(ctx, sess); errors.Is(err, storage.ErrNotFound) {
			err = nil // ended meanwhile, by someone else: it is over either way
		}
	}
	if err != nil {
		h.log.ErrorContext(ctx, "end session", "subject", hint.Subject, "sid", hint.SID, "by", logoutHowWithoutCookie, "error", err)
		h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not end the session. Please try again.")
		return
	}
	if sess == nil {
		h.log.InfoContext(ctx, "logout: no session to end", "event", "logout_nothing", "subject", hint.Subject,
			"client", hint.ClientID, "sid", hint.SID, "reason", reason, "by", logoutHowWithoutCookie, "address", r.RemoteAddr)
		h.logoutSignedOut(w, r, lr, logoutSignedOutData{Named: true})
		return
	}
	h.log.InfoContext(ctx, "signed out", "event", "logout_rp", "subject", sess.UserID, "client", hint.ClientID,
		"sid", sess.SID, "by", logoutHowWithoutCookie, "address", r.RemoteAddr)
	h.logoutSignedOut(w, r, lr, logoutSignedOutData{Ended: true, Named: true})
}

// logoutNamedSession returns the live session a verified id_token_hint names, or
// nil and why not: the hint must carry a sid, be issued to a registered client,
// and the session with that sid must be its subject's and not expired.
func (h *logoutPages) logoutNamedSession(ctx context.Context, hint idtoken.Hint) (*storage.Session, string, error) {
	if hint.SID == "" || hint.Subject == "" {
		return nil, "id_token_hint names no session", nil
	}
	if _, ok := h.logoutClientName(ctx, hint.ClientID); !ok {
		return nil, "id_token_hint's client is not registered", nil
	}
	// Only the subject's own sessions are looked at: a sid of someone else's
	// session ends nothing.
	sessions, err := h.store.ListUserSessions(ctx, hint.Subject)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, "", err
	}
	for _, s := range sessions {
		if s.SID != hint.SID || s.UserID != hint.Subject {
			continue
		}
		if s.Expired(h.now()) {
			return nil, "session expired", nil
		}
		return s, "", nil
	}
	return nil, "no such session", nil
}

type logoutSignedOutData struct {
	// Ended is set when this request ended a session.
	Ended bool
	// Named is set when the request came without this browser's session
	// cookie and named a sign-in with an id_token_hint: the page speaks of that
	// sign-in, not of this browser. With Ended unset, nothing was ended.
	Named bool
}

// logoutSignedOut clears the session cookie and returns to the application's
// post-logout redirect URI with state when it is registered for the client;
// otherwise it shows the signed-out page (or, when a named sign-in was not
// ended, says so).
func (h *logoutPages) logoutSignedOut(w http.ResponseWriter, r *http.Request, lr logoutRequest, data logoutSignedOutData) {
	if _, err := r.Cookie(h.sessions.CookieName()); err == nil {
		h.sessions.ClearCookie(w)
	}
	if to := h.logoutRedirect(r.Context(), lr); to != "" {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	title := "Signed out"
	if data.Named && !data.Ended {
		title = "No session to end"
	}
	h.render(w, r, http.StatusOK, "signed_out", title, data)
}

// logoutRedirect returns where to send the browser after logout, or "":
// only a URI registered exactly for the request's client, without fragment.
func (h *logoutPages) logoutRedirect(ctx context.Context, lr logoutRequest) string {
	if lr.clientID == "" || lr.redirectURI == "" || strings.Contains(lr.redirectURI, "#") {
		return ""
	}
	c, err := h.store.GetClient(ctx, lr.clientID)
	if err != nil {
		return ""
	}
	return policy.PostLogoutRedirect(c.PostLogoutRedirectURIs, lr.redirectURI, lr.state)
}

// logoutClientName returns the display name of a registered client.
func (h *logoutPages) logoutClientName(ctx context.Context, id string) (string, bool) {
	if id == "" {
		return "", false
	}
	c, err := h.store.GetClient(ctx, id)
	if err != nil {
		return "", false
	}
	if c.Name != "" {
		return c.Name, true
	}
	return c.ID, true
}

func (h *logoutPages) logoutVerifyHint(raw string) (idtoken.Hint, error) {
	if h.hints == nil {
		return idtoken.Hint{}, errors.New("id_token_hint verification is not configured")
	}
	return h.hints.VerifyHint(raw)
}

var errLogoutParams = errors.New("logout parameters too long or repeated")

// logoutParams reads the parameters of a logout request: the query of a GET, the
// form body (at most maxLogoutBody) of a POST. A parameter that is too long or
// repeated makes the whole request invalid.
func (h *logoutPages) logoutParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	var v url.Values
	var err error
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxLogoutBody)
		if err = r.ParseForm(); err == nil {
			v = r.PostForm
		}
	} else if len(r.URL.RawQuery) > maxLogoutBody {
		err = errLogoutParams
	} else {
		v, err = url.ParseQuery(r.URL.RawQuery)
	}
	if err == nil {
		for name, limit := range logoutParamLimits {
			if vals := v[name]; len(vals) > 1 || (len(vals) == 1 && len(vals[0]) > limit) {
				err = fmt.Errorf("%w: %s", errLogoutParams, name)
				break
			}
		}
	}
	if err != nil {
		h.log.InfoContext(r.Context(), "logout request refused", "event", "logout_bad_request", "address", r.RemoteAddr, "error", err)
		h.errorPage(w, r, http.StatusBadRequest, "Sign-out request not valid",
			"This sign-out request could not be read. Nothing was changed. Return to the application and try again.")
		return nil, false
	}
	return v, true
}

// logoutSealed is a logout request carried across the redirect to
// PathEndSessionContinue: what the end-session endpoint verified, sealed with an
// HMAC under the cookie key so that it cannot be forged or altered.
type logoutSealed struct {
	Hinted      bool   `json:"h,omitempty"`
	Rejected    bool   `json:"hr,omitempty"`
	Subject     string `json:"sub,omitempty"`
	SID         string `json:"sid,omitempty"`
	ClientID    string `json:"cid,omitempty"`
	RedirectURI string `json:"uri,omitempty"`
	State       string `json:"st,omitempty"`
	Expiry      int64  `json:"exp"`
}

func (h *logoutPages) logoutSeal(lr logoutRequest) string {
	s := logoutSealed{ClientID: lr.clientID, RedirectURI: lr.redirectURI, State: lr.state,
		Rejected: lr.hintRejected, Expiry: h.now().Add(logoutContinueLifetime).Unix()}
	if lr.hint != nil {
		s.Hinted, s.Subject, s.SID = true, lr.hint.Subject, lr.hint.SID
	}
	b, _ := json.Marshal(s)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + h.formToken(stepLogoutContinue, payload)
}

func (h *logoutPages) logoutOpen(sealed string) (logoutRequest, bool) {
	payload, mac, ok := strings.Cut(sealed, ".")
	if !ok || !h.checkFormToken(stepLogoutContinue, payload, mac) {
		return logoutRequest{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return logoutRequest{}, false
	}
	var s logoutSealed
	if err := json.Unmarshal(b, &s); err != nil || !h.now().Before(time.Unix(s.Expiry, 0)) {
		return logoutRequest{}, false
	}
	lr := logoutRequest{clientID: s.ClientID, redirectURI: s.RedirectURI, state: s.State, hintRejected: s.Rejected}
	if s.Hinted {
		lr.hint = &idtoken.Hint{Subject: s.Subject, SID: s.SID, ClientID: s.ClientID}
	}
	return lr, true
}

// logoutClip shortens an untrusted value for a log line.
func logoutClip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
