package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
	"github.com/signet-idp/signet/web/session"
)

// Authentication context class references (the acr claim; discovery's
// acr_values_supported is ACRValuesSupported). An application whose acr_values
// name ACRMFA and not ACRPassword gets a sign-in with a second factor, and an ID
// token whose acr is ACRMFA.
const (
	// ACRPassword is a sign-in with a password alone.
	ACRPassword = "urn:signet:acr:pwd"
	// ACRMFA is a sign-in with a password and a second factor (a TOTP code or a
	// recovery code).
	ACRMFA = "urn:signet:acr:mfa"
)

// ACRValuesSupported returns the ACR values Signet issues, weakest first.
func ACRValuesSupported() []string { return []string{ACRPassword, ACRMFA} }

// Authentication method references (the amr claim, RFC 8176). A password alone is
// ["pwd"]; with a second factor ["pwd", "otp", "mfa"]. A recovery code counts as
// "otp": it is a one-time password (single use, from a list the person holds),
// which is what RFC 8176 section 2 means by "otp", and with the password it makes
// two factors ("mfa").
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
)

// MFA policies (Config.MFAPolicy).
const (
	// MFAOptional asks for a second factor from people who enrolled one, and from
	// everyone where a client requires it (storage.Client.RequireMFA) or the
	// request's acr_values ask for ACRMFA alone (acrDemandsMFA).
	MFAOptional = "optional"
	// MFARequired asks everyone; people without a second factor enrol at sign-in.
	MFARequired = "required"
)

// Input bounds of the login form.
const (
	maxFormBody    = storage.MaxAuthRequestIDLen + 16<<10
	maxUsernameLen = 256
)

// genericLoginError is the one answer to every failed sign-in, so that an
// attacker cannot tell an unknown user from a wrong password or a disabled account.
const genericLoginError = "The username or password is incorrect."

// signInStore is what the sign-in reads and writes: auth requests (its own,
// without a client, for the account pages too), their clients, and the
// people whose second factor it checks.
type signInStore interface {
	storage.AuthRequests
	storage.Clients
	storage.Users
}

// signIn serves the sign-in: the password form (for an application, or for
// the account pages), the second factor, and step-up of a session that lacks
// one; an application's sign-in then goes on through the flow.
type signIn struct {
	*base
	store       signInStore
	sessions    *session.Manager
	flow        *flow
	guard       *guard
	totp        *totp.Authenticator
	mfaRequired bool
}

type loginData struct {
	// Action is where the form posts; Account marks the sign-in to the account
	// pages (no application).
	Action        string
	Account       bool
	AuthRequestID string
	FormToken     string
	ClientName    string
	Username      string
	Error         string
	// Next is where the account sign-in returns (an account page).
	Next string
}

// loginPage decides, from the browser session and the request's prompt, max_age,
// id_token_hint and need for a second factor, whether the person must sign in, is
// already signed in, must give a second factor (step-up, without the password
// again) or must first enrol one.
func (h *signIn) loginPage(w http.ResponseWriter, r *http.Request) {
	ar := h.flow.loadAuthRequest(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	ctx := r.Context()
	sess, user := h.sessions.Current(ctx, r)
	usable := sess != nil && h.sessionSatisfies(sess, ar)
	none := slices.Contains(ar.Prompt, "none")
	forceLogin := !none && (slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account"))
	if usable && !forceLogin {
		switch h.nextFactor(ctx, ar, sess, user) {
		case factorsDone:
			h.flow.complete(w, r, ar, sess)
		case factorStepUp:
			if none {
				h.flow.redirectError(w, r, ar, "interaction_required", "a second factor is required")
				return
			}
			h.startSecondFactor(w, r, ar, user.ID, sess.AuthTime)
		case factorEnrol:
			if none {
				h.flow.redirectError(w, r, ar, "interaction_required", "the user must set up a second factor")
				return
			}
			http.Redirect(w, r, h.route(enrolURL(ar.ID)), http.StatusSeeOther)
		}
		return
	}
	if none {
		h.flow.redirectError(w, r, ar, "login_required", "the user is not signed in")
		return
	}
	h.showLogin(w, r, http.StatusOK, ar, ar.LoginHint, "")
}

// What a signed-in person still needs for a request.
const (
	factorsDone  = iota // the session suffices
	factorStepUp        // a second factor, without the password again
	factorEnrol         // a second factor they do not have yet
)

// nextFactor decides what sess (of user) lacks for ar. A person who enrolled a
// second factor always uses it; others need one where the policy, the client or
// the request's acr_values ask for it.
func (h *signIn) nextFactor(ctx context.Context, ar *storage.AuthRequest, sess *storage.Session, user *storage.User) int {
	switch {
	case sess.ACR == ACRMFA:
		return factorsDone
	case user.TOTP.Enrolled():
		return factorStepUp
	case h.needsMFA(ctx, ar):
		return factorEnrol
	}
	return factorsDone
}

// needsMFA reports whether ar must be answered with a second factor whoever signs
// in: the policy says so, the client requires it, or acr_values ask for it.
func (h *signIn) needsMFA(ctx context.Context, ar *storage.AuthRequest) bool {
	if h.mfaRequired || acrDemandsMFA(ar.ACRValues) {
		return true
	}
	c, err := h.store.GetClient(ctx, ar.ClientID)
	return err == nil && c.RequireMFA
}

// acrDemandsMFA reports whether acr_values can only be satisfied with a second
// factor. They are a list in order of preference (OpenID Connect Core 3.1.2.1), so
// a password alone satisfies any list naming ACRPassword; unknown values are
// ignored.
func acrDemandsMFA(values []string) bool {
	return slices.Contains(values, ACRMFA) && !slices.Contains(values, ACRPassword)
}

// enrolURL is the account page that enrols a second factor and then continues
// the auth request.
func enrolURL(authRequestID string) string {
	return PathAccountTOTP + "?authRequestID=" + url.QueryEscape(authRequestID)
}

// sessionSatisfies reports whether an existing session may answer the request
// without a new sign-in: max_age not exceeded and the hinted subject is the
// session's.
func (h *signIn) sessionSatisfies(s *storage.Session, ar *storage.AuthRequest) bool {
	if ar.MaxAge >= 0 && h.now().Sub(s.AuthTime) > time.Duration(ar.MaxAge)*time.Second {
		return false
	}
	if ar.IDTokenHintSubject != "" && ar.IDTokenHintSubject != s.UserID {
		return false
	}
	return true
}

func (h *signIn) showLogin(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, username, msg string) {
	if len(username) > maxUsernameLen {
		username = ""
	}
	h.render(w, r, status, "login", "Sign in", loginData{
		Action:        h.route(PathLogin),
		AuthRequestID: ar.ID,
		FormToken:     h.formToken("login", ar.ID+"\x00"+h.sessions.PendingBinding(w, r)),
		ClientName:    clientName(r.Context(), h.store, ar.ClientID),
		Username:      username,
		Error:         msg,
	})
}

func (h *signIn) loginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if id == "" && h.checkFormToken(stepAccount, h.sessions.BrowserBinding(r), r.PostForm.Get("csrf_token")) {
		// The account sign-in form, posted here.
		h.accountLoginSubmit(w, r)
		return
	}
	if r.PostForm.Get("step") == stepTOTP {
		// The second-factor form, posted here.
		h.secondFactorSubmit(w, r)
		return
	}
	// The form token binds the form to its auth request and to this browser
	// (a cookie set with the form), so a form fetched elsewhere cannot be posted
	// from here, nor this one for another request.
	if !h.formValid(w, r, "login", id+"\x00"+h.sessions.BrowserBinding(r), "This form is not valid for this sign-in request. Return to the application and start again.") {
		return
	}
	ar := h.flow.loadAuthRequest(w, r, id)
	if ar == nil {
		return
	}
	ctx := r.Context()
	username := r.PostForm.Get("username")
	user := h.checkPassword(w, r, "sign in", func(why error) {
		h.log.InfoContext(ctx, "sign-in failed", "event", "login_failed", "client", ar.ClientID, "username", auditUsername(username),
			"reason", failureReason(why), "address", r.RemoteAddr)
		h.showLogin(w, r, http.StatusUnauthorized, ar, username, genericLoginError)
	})
	if user == nil {
		return
	}
	if user.TOTP.Enrolled() {
		// The session starts only after the second factor.
		h.log.InfoContext(ctx, "password accepted, second factor next", "event", "login_first_factor", "subject", user.ID, "client", ar.ClientID, "address", r.RemoteAddr)
		h.startSecondFactor(w, r, ar, user.ID, h.now().UTC())
		return
	}
	// A new session id on every sign-in (no fixation); the old one ends.
	sess, err := h.sessions.Start(ctx, w, r, user.ID, []string{AMRPassword}, ACRPassword, false)
	if err != nil {
		h.serverError(w, r, "create session", err) // 503 "try again" while storage is away
		return
	}
	h.log.InfoContext(ctx, "signed in", "event", "login", "subject", user.ID, "client", ar.ClientID, "address", r.RemoteAddr)
	if h.needsMFA(ctx, ar) {
		// Signed in, but this request needs a second factor the person lacks.
		http.Redirect(w, r, h.route(enrolURL(ar.ID)), http.StatusSeeOther)
		return
	}
	h.flow.complete(w, r, ar, sess)
}

// checkPassword is the password step of both sign-in forms, behind the guard:
// the person whose password the form carries, or nil once the request is
// answered. A locked address, a busy hasher or storage out of reach is
// answered here (what names the step in the log); a refused password by
// refused, given why (an errBadCredentials).
func (h *signIn) checkPassword(w http.ResponseWriter, r *http.Request, what string, refused func(why error)) *storage.User {
	if h.guard.addressLocked(w, r) {
		return nil
	}
	user, err := h.guard.checkPassword(r, r.PostForm.Get("username"), r.PostForm.Get("password"))
	switch {
	case errors.Is(err, password.ErrBusy):
		h.guard.busy(w, r)
	case errors.Is(err, errBadCredentials):
		refused(err)
	case err != nil:
		h.serverError(w, r, what, err) // storage away: "try again in a moment", 503
	default:
		return user
	}
	return nil
}

// accountLoginPage is the sign-in to the account pages, which need a browser
// session: the password, then the second factor if the person has one, and
// back to /account/totp (or /account).
func (h *signIn) accountLoginPage(w http.ResponseWriter, r *http.Request) {
	next := accountNext(r.URL.Query().Get("next"))
	if sess, _ := h.sessions.Current(r.Context(), r); sess != nil {
		http.Redirect(w, r, h.route(next), http.StatusSeeOther)
		return
	}
	h.showAccountLogin(w, r, http.StatusOK, "", "")
}

// accountNext is where the account sign-in returns: one of the account pages,
// never an address from outside.
func accountNext(next string) string {
	if next == PathAccount {
		return PathAccount
	}
	return PathAccountTOTP
}

func (h *signIn) showAccountLogin(w http.ResponseWriter, r *http.Request, status int, username, msg string) {
	if len(username) > maxUsernameLen {
		username = ""
	}
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostForm.Get("next")
	}
	d := loginData{
		Action:    h.route(PathAccountLogin),
		Account:   true,
		FormToken: h.formToken(stepAccount, h.sessions.PendingBinding(w, r)),
		Username:  username,
		Error:     msg,
	}
	if accountNext(next) == PathAccount {
		d.Next = PathAccount
	}
	h.render(w, r, status, "login", "Sign in", d)
}

// accountLoginSubmit checks the password. A person with a second factor is asked
// for it before any session starts: the half-done sign-in is kept in an auth
// request without a client, bound to this browser, like an application's.
func (h *signIn) accountLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.formValid(w, r, stepAccount, h.sessions.BrowserBinding(r), "This form is not valid. Open your account page and sign in again.") {
		return
	}
	ctx := r.Context()
	username := r.PostForm.Get("username")
	user := h.checkPassword(w, r, "account sign-in", func(why error) {
		h.log.InfoContext(ctx, "account sign-in failed", "event", "login_failed", "username", auditUsername(username),
			"reason", failureReason(why), "address", r.RemoteAddr)
		h.showAccountLogin(w, r, http.StatusUnauthorized, username, genericLoginError)
	})
	if user == nil {
		return
	}
	now := h.now().UTC()
	if user.TOTP.Enrolled() {
		ar := &storage.AuthRequest{
			ID: session.NewSecret(), MaxAge: -1, CreatedAt: now, ExpiresAt: now.Add(accountRequestLifetime),
			FirstFactorUserID: user.ID, FirstFactorAt: now, FirstFactorBinding: h.sessions.PendingBinding(w, r),
		}
		if err := h.store.CreateAuthRequest(ctx, ar); err != nil {
			h.log.ErrorContext(ctx, "create account sign-in", "error", err)
			h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not sign you in. Please try again.")
			return
		}
		h.log.InfoContext(ctx, "password accepted, second factor next", "event", "login_first_factor", "subject", user.ID, "address", r.RemoteAddr)
		http.Redirect(w, r, h.route(secondFactorURL(ar.ID)), http.StatusSeeOther)
		return
	}
	if _, err := h.sessions.Start(ctx, w, r, user.ID, []string{AMRPassword}, ACRPassword, false); err != nil {
		h.serverError(w, r, "create session", err) // 503 "try again" while storage is away
		return
	}
	h.log.InfoContext(ctx, "signed in to the account pages", "event", "login", "subject", user.ID, "address", r.RemoteAddr)
	http.Redirect(w, r, h.route(accountNext(r.PostForm.Get("next"))), http.StatusSeeOther)
}
