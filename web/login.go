package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/password"
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

// loadAuthRequest returns a live, not yet completed auth request, or shows why not.
func (h *Handler) loadAuthRequest(w http.ResponseWriter, r *http.Request, id string) *storage.AuthRequest {
	if id == "" || len(id) > storage.MaxAuthRequestIDLen {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	ar, err := h.store.GetAuthRequest(r.Context(), id)
	if errors.Is(err, storage.ErrUnavailable) {
		h.serverError(w, r, "load the sign-in request", err) // "try again", 503: the request may be fine
		return nil
	}
	if err != nil || ar.Expired(h.now()) || ar.ClientID == "" {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	if ar.Done {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return nil
	}
	return ar
}

// loginPage decides, from the browser session and the request's prompt, max_age,
// id_token_hint and need for a second factor, whether the person must sign in, is
// already signed in, must give a second factor (step-up, without the password
// again) or must first enrol one.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	ar := h.loadAuthRequest(w, r, r.URL.Query().Get("authRequestID"))
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
			h.complete(w, r, ar, sess)
		case factorStepUp:
			if none {
				h.redirectError(w, r, ar, "interaction_required", "a second factor is required")
				return
			}
			h.startSecondFactor(w, r, ar, user.ID, sess.AuthTime)
		case factorEnrol:
			if none {
				h.redirectError(w, r, ar, "interaction_required", "the user must set up a second factor")
				return
			}
			http.Redirect(w, r, h.route(enrolURL(ar.ID)), http.StatusSeeOther)
		}
		return
	}
	if none {
		h.redirectError(w, r, ar, "login_required", "the user is not signed in")
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
func (h *Handler) nextFactor(ctx context.Context, ar *storage.AuthRequest, sess *storage.Session, user *storage.User) int {
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
func (h *Handler) needsMFA(ctx context.Context, ar *storage.AuthRequest) bool {
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
func (h *Handler) sessionSatisfies(s *storage.Session, ar *storage.AuthRequest) bool {
	if ar.MaxAge >= 0 && h.now().Sub(s.AuthTime) > time.Duration(ar.MaxAge)*time.Second {
		return false
	}
	if ar.IDTokenHintSubject != "" && ar.IDTokenHintSubject != s.UserID {
		return false
	}
	return true
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, username, msg string) {
	if len(username) > maxUsernameLen {
		username = ""
	}
	h.render(w, r, status, "login", "Sign in", loginData{
		Action:        h.route(PathLogin),
		AuthRequestID: ar.ID,
		FormToken:     h.formToken("login", ar.ID+"\x00"+h.sessions.PendingBinding(w, r)),
		ClientName:    h.clientName(r.Context(), ar.ClientID),
		Username:      username,
		Error:         msg,
	})
}

func (h *Handler) clientName(ctx context.Context, id string) string {
	if c, err := h.store.GetClient(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}

func (h *Handler) loginSubmit(w http.ResponseWriter, r *http.Request) {
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
	ar := h.loadAuthRequest(w, r, id)
	if ar == nil {
		return
	}
	if h.addressLocked(w, r) {
		return
	}
	ctx := r.Context()
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	user, err := h.checkPassword(r, username, pw)
	if errors.Is(err, password.ErrBusy) {
		h.busy(w, r)
		return
	}
	if err != nil && !errors.Is(err, errBadCredentials) {
		h.serverError(w, r, "sign in", err) // storage away: "try again in a moment", 503
		return
	}
	if err != nil {
		h.log.InfoContext(ctx, "sign-in failed", "event", "login_failed", "client", ar.ClientID, "username", auditUsername(username),
			"reason", failureReason(err), "address", r.RemoteAddr)
		h.showLogin(w, r, http.StatusUnauthorized, ar, username, genericLoginError)
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
	h.complete(w, r, ar, sess)
}

var errBadCredentials = errors.New("bad credentials")

// lookupUser finds the person a sign-in names: by username, or else by email
// address (compared case-insensitively), so the username field takes either.
func (h *Handler) lookupUser(ctx context.Context, login string) (*storage.User, error) {
	if login == "" || len(login) > maxUsernameLen {
		return nil, storage.ErrNotFound
	}
	u, err := h.store.GetUserByUsername(ctx, login)
	if errors.Is(err, storage.ErrNotFound) && strings.Contains(login, "@") {
		u, err = h.store.GetUserByEmail(ctx, login)
	}
	return u, err
}

// authenticate checks a username and password. Unknown users, disabled users and
// wrong passwords all cost one password verification and return errBadCredentials.
func (h *Handler) authenticate(ctx context.Context, username, pw string) (*storage.User, error) {
	if username == "" || len(username) > maxUsernameLen {
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errUnknownUser
	}
	user, err := h.lookupUser(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		// Not a wrong password: storage cannot say just now (or a record is
		// damaged), and nothing is counted against the person or the address.
		return nil, err
	}
	if err != nil {
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errUnknownUser
	}
	ok, rehash, err := h.cfg.Hasher.Verify(ctx, user.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		return nil, err
	}
	if err != nil || !ok || user.Disabled {
		if !h.cfg.Hasher.IsCurrent(user.PasswordHash) {
			// A hash with other parameters, an imported bcrypt or none at all
			// may cost less than the dummy an unknown user costs: pay the
			// dummy too, so a failure never answers faster than for a user
			// who does not exist.
			h.cfg.Hasher.VerifyDummy(ctx, pw)
		}
		if err == nil && ok {
			return nil, errDisabledUser
		}
		return nil, errWrongPassword
	}
	if rehash {
		if enc, err := h.cfg.Hasher.Hash(ctx, pw); err == nil {
			old := user.PasswordHash
			if _, err := h.store.UpdateUser(ctx, user.ID, func(u *storage.User) error {
				if u.PasswordHash != old {
					return storage.ErrConflict // changed meanwhile: keep the newer password
				}
				u.PasswordHash = enc
				return nil
			}); err != nil && !errors.Is(err, storage.ErrConflict) {
				h.log.WarnContext(ctx, "upgrade password hash", "subject", user.ID, "error", err)
			}
		}
	}
	return user, nil
}

// redirectError returns an OAuth error to the request's registered redirect URI.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, code, desc string) {
	h.store.DeleteAuthRequest(r.Context(), ar.ID)
	http.Redirect(w, r, policy.ErrorRedirectURL(h.cfg.Issuer, ar.RedirectURI, ar.State, code, desc), http.StatusFound)
}
