package demorp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// home shows the sign-in button, or what this browser's sign-in verified. It
// is also the post_logout_redirect_uri: when the issuer sends the browser back
// with the state of the logout this browser started, it says that the session
// at the issuer ended. Any other state is ignored.
func (rp *RP) home(w http.ResponseWriter, r *http.Request) {
	data := pageData{Title: "Demo app"}
	if s := rp.session(r); s != nil {
		s.mu.Lock()
		if state := r.URL.Query().Get("state"); state != "" && s.signedIn == nil {
			data.SignedOutAtIssuer = s.takeLogout(state, rp.now())
		}
		data.Notice, s.notice = s.notice, ""
		if s.signedIn != nil {
			v := s.signedIn.view
			v.CSRF = s.csrf
			data.Session = &v
		} else if !s.endedByIssuer.IsZero() {
			at := s.endedByIssuer.UTC()
			data.Backchannel = &backchannelView{
				At:       at.Format("2006-01-02 15:04:05 UTC"),
				DateTime: at.Format(time.RFC3339),
			}
		}
		s.mu.Unlock()
	}
	rp.render(w, r, http.StatusOK, data)
}

// login starts the authorization code flow: a fresh state, nonce and PKCE
// verifier are remembered in the browser's session, and the browser is sent to
// the authorization endpoint with the state, the nonce and the S256 challenge.
func (rp *RP) login(w http.ResponseWriter, r *http.Request) {
	iss, err := rp.discover(r.Context())
	if err != nil {
		rp.fail(w, r, issuerUnreachable(rp.cfg.Issuer, err))
		return
	}
	s := rp.sessionOrNew(w, r)
	p := pendingAuth{
		state:    rand.Text(),
		nonce:    rand.Text(),
		verifier: oauth2.GenerateVerifier(),
		started:  rp.now(),
	}
	s.mu.Lock()
	s.addPending(p, p.started)
	s.mu.Unlock()
	http.Redirect(w, r, iss.oauth2.AuthCodeURL(p.state, oidc.Nonce(p.nonce), oauth2.S256ChallengeOption(p.verifier)), http.StatusFound)
}

// callback is the redirect URI. It matches the state to a sign-in started in
// this browser, exchanges the code with the PKCE verifier, verifies the tokens
// and, only if the ID token checks out, signs the browser in.
func (rp *RP) callback(w http.ResponseWriter, r *http.Request) {
	if e := rp.handleCallback(w, r); e != nil {
		rp.fail(w, r, e)
	}
}

func (rp *RP) handleCallback(w http.ResponseWriter, r *http.Request) *pageError {
	q := r.URL.Query()
	s := rp.session(r)
	var p pendingAuth
	matched := false
	if s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		// Consumed whatever comes next: a state is good for one answer.
		p, matched = s.takePending(q.Get("state"), rp.now())
	}
	if code := q.Get("error"); code != "" {
		return &pageError{
			status:      http.StatusBadRequest,
			title:       "The issuer returned an error",
			code:        clip(code, 100),
			description: clip(q.Get("error_description"), 500),
			retry:       true,
			cause:       errors.New("authorization error response"),
		}
	}
	if !matched {
		return &pageError{
			status:      http.StatusBadRequest,
			title:       "This sign-in does not match",
			description: "The response's state does not match a sign-in started in this browser in the last 10 minutes. No tokens were requested.",
			retry:       true,
			cause:       errors.New("callback: state missing, unknown or expired"),
		}
	}
	// RFC 9207: when the issuer names itself, it must be the one we asked.
	if got := q.Get("iss"); got != "" && got != rp.cfg.Issuer {
		return &pageError{
			status:      http.StatusBadRequest,
			title:       "The response came from another issuer",
			description: fmt.Sprintf("It names the issuer %q, not %q. No tokens were requested.", clip(got, 200), rp.cfg.Issuer),
			retry:       true,
			cause:       errors.New("callback: iss parameter mismatch"),
		}
	}
	code := q.Get("code")
	if code == "" {
		return &pageError{
			status:      http.StatusBadRequest,
			title:       "The response carried no authorization code",
			description: "The issuer redirected back without a code or an error.",
			retry:       true,
			cause:       errors.New("callback: no code"),
		}
	}
	iss, err := rp.discover(r.Context())
	if err != nil {
		return issuerUnreachable(rp.cfg.Issuer, err)
	}
	ctx := oidc.ClientContext(r.Context(), rp.client)
	tok, err := iss.oauth2.Exchange(ctx, code, oauth2.VerifierOption(p.verifier))
	if err != nil {
		return tokenEndpointFailure("code exchange", err)
	}
	si, e := rp.verifyTokens(ctx, iss, tok, p.nonce, nil)
	if e != nil {
		return e
	}
	s.signedIn = si
	s.notice = "Signed in. Everything below was verified by this app."
	s.endedByIssuer = time.Time{}
	s.logout = pendingLogout{}
	rp.setCookie(w, rp.sessions.rotate(s))
	rp.log.InfoContext(r.Context(), "demo: signed in", "sub", si.subject)
	// Post/redirect/get: the code leaves the address bar and the history.
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// refresh uses the refresh token and shows what the new tokens say.
func (rp *RP) refresh(w http.ResponseWriter, r *http.Request) {
	if e := rp.handleRefresh(w, r); e != nil {
		rp.fail(w, r, e)
	}
}

func (rp *RP) handleRefresh(w http.ResponseWriter, r *http.Request) *pageError {
	s, e := rp.postSession(w, r)
	if e != nil {
		return e
	}
	if s == nil {
		return notSignedIn()
	}
	defer s.mu.Unlock()
	if s.signedIn == nil {
		return notSignedIn()
	}
	prev := s.signedIn
	if prev.token.RefreshToken == "" {
		return &pageError{
			status:      http.StatusBadRequest,
			title:       "There is no refresh token",
			description: `The issuer did not issue one with these tokens. Refresh tokens come with the "offline_access" scope, if the client may use the refresh_token grant.`,
			cause:       errors.New("refresh: no refresh token"),
		}
	}
	iss, err := rp.discover(r.Context())
	if err != nil {
		return issuerUnreachable(rp.cfg.Issuer, err)
	}
	ctx := oidc.ClientContext(r.Context(), rp.client)
	// A token with no access token counts as expired, so the source refreshes.
	tok, err := iss.oauth2.TokenSource(ctx, &oauth2.Token{RefreshToken: prev.token.RefreshToken}).Token()
	if err != nil {
		return tokenEndpointFailure("refresh", err)
	}
	si, e := rp.verifyTokens(ctx, iss, tok, prev.nonce, prev)
	if e != nil {
		return e
	}
	s.signedIn = si
	s.notice = fmt.Sprintf("Tokens refreshed at %s. The claims below are from the new tokens.", rp.now().Format("15:04:05"))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// logout is RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): it
// forgets this browser's tokens, then sends the browser to the issuer's
// end_session_endpoint with the ID token as id_token_hint, our client id, the
// post_logout_redirect_uri and a fresh state, which the home page checks when
// the browser comes back. When the issuer has no end_session_endpoint (or
// cannot be reached), the sign-out is local only.
func (rp *RP) logout(w http.ResponseWriter, r *http.Request) {
	s, e := rp.postSession(w, r)
	if e != nil {
		rp.fail(w, r, e)
		return
	}
	if s == nil {
		rp.clearCookie(w)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	defer s.mu.Unlock()
	si := s.signedIn
	s.signedIn = nil
	s.notice = ""
	if si == nil {
		rp.localLogout(w, r, s)
		return
	}
	iss, err := rp.discover(r.Context())
	if err != nil {
		rp.log.WarnContext(r.Context(), "demo: signed out locally only: the issuer is unreachable", "error", err)
		rp.localLogout(w, r, s)
		return
	}
	if iss.endSession == "" {
		rp.log.InfoContext(r.Context(), "demo: signed out locally only: the issuer has no end_session_endpoint", "sub", si.subject)
		rp.localLogout(w, r, s)
		return
	}
	params := url.Values{
		"client_id":                {rp.cfg.ClientID},
		"post_logout_redirect_uri": {rp.cfg.PostLogoutRedirect()},
		"state":                    {s.startLogout(rp.now())},
	}
	if si.idToken != "" {
		params.Set("id_token_hint", si.idToken)
	}
	s.endedByIssuer = time.Time{}
	// A fresh session id: the one that was signed in is worthless from now on.
	rp.setCookie(w, rp.sessions.rotate(s))
	rp.log.InfoContext(r.Context(), "demo: signed out; sending the browser to the end_session_endpoint", "sub", si.subject)
	http.Redirect(w, r, withQuery(iss.endSession, params), http.StatusSeeOther)
}

// localLogout forgets the session s (locked by the caller) and its cookie.
func (rp *RP) localLogout(w http.ResponseWriter, r *http.Request, s *session) {
	rp.sessions.delete(s)
	rp.clearCookie(w)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// postSession parses a POST form and returns the request's session, locked,
// after checking the form's per-session token. The session is nil (and no error
// returned) when the browser has none.
func (rp *RP) postSession(w http.ResponseWriter, r *http.Request) (*session, *pageError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, &pageError{
			status:      http.StatusBadRequest,
			title:       "Malformed form",
			description: "The form could not be read.",
			cause:       fmt.Errorf("parse form: %w", err),
		}
	}
	s := rp.session(r)
	if s == nil {
		return nil, nil
	}
	s.mu.Lock()
	if !s.checkCSRF(r.PostForm.Get("csrf")) {
		s.mu.Unlock()
		return nil, &pageError{
			status:      http.StatusForbidden,
			title:       "Request refused",
			description: "This form did not come from this app's page. Reload the page and try again.",
			cause:       errors.New("csrf token mismatch"),
		}
	}
	return s, nil
}

func notSignedIn() *pageError {
	return &pageError{
		status:      http.StatusBadRequest,
		title:       "You are not signed in",
		description: "This browser has no tokens (the session may have expired). Sign in first.",
		retry:       true,
		cause:       errors.New("no signed-in session"),
	}
}

// tokenEndpointFailure turns a failed token request into an error page: an
// OAuth error from the issuer is shown as such. The log gets the status and
// the error code, never the response body.
func tokenEndpointFailure(what string, err error) *pageError {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &pageError{
			status:      http.StatusBadGateway,
			title:       "The token request failed",
			description: "The issuer's token endpoint could not be reached, or its answer could not be used.",
			retry:       true,
			cause:       fmt.Errorf("%s: %w", what, err),
		}
	}
	status := 0
	if re.Response != nil {
		status = re.Response.StatusCode
	}
	cause := fmt.Errorf("%s: token endpoint answered %d with error %q", what, status, re.ErrorCode)
	if re.ErrorCode == "" {
		return &pageError{
			status:      http.StatusBadGateway,
			title:       "The token request failed",
			description: fmt.Sprintf("The token endpoint answered HTTP %d without an OAuth error.", status),
			retry:       true,
			cause:       cause,
		}
	}
	return &pageError{
		status:      http.StatusBadGateway,
		title:       "The token endpoint refused the " + what,
		code:        clip(re.ErrorCode, 100),
		description: clip(re.ErrorDescription, 500),
		retry:       true,
		cause:       cause,
	}
}

// clip shortens s to at most n runes, for text that came from elsewhere.
func clip(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
