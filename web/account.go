package web

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
	"github.com/signet-idp/signet/web/session"
)

// The account pages need a browser session. Without one, /account/login signs
// the person in (password, then the second factor if they have one) and returns
// to /account/totp.

func (h *Handler) accountLoginPage(w http.ResponseWriter, r *http.Request) {
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

func (h *Handler) showAccountLogin(w http.ResponseWriter, r *http.Request, status int, username, msg string) {
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
func (h *Handler) accountLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.formValid(w, r, stepAccount, h.sessions.BrowserBinding(r), "This form is not valid. Open your account page and sign in again.") {
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
		h.serverError(w, r, "account sign-in", err) // storage away: 503 "try again"
		return
	}
	if err != nil {
		h.log.InfoContext(ctx, "account sign-in failed", "event", "login_failed", "username", auditUsername(username),
			"reason", failureReason(err), "address", r.RemoteAddr)
		h.showAccountLogin(w, r, http.StatusUnauthorized, username, genericLoginError)
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
			h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not sign you in. Please try again.")
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

// accountSession returns the browser's session and person, or sends the browser
// to sign in.
func (h *Handler) accountSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User) {
	sess, user := h.sessions.Current(r.Context(), r)
	if sess == nil {
		http.Redirect(w, r, h.route(PathAccountLogin), http.StatusSeeOther)
		return nil, nil
	}
	return sess, user
}

// continuing returns the application sign-in that sent the person to enrol, if
// id names one that is still open; otherwise nil.
func (h *Handler) continuing(r *http.Request, id string) *storage.AuthRequest {
	if id == "" || len(id) > storage.MaxAuthRequestIDLen {
		return nil
	}
	ar, err := h.store.GetAuthRequest(r.Context(), id)
	if err != nil || ar.Expired(h.now()) || ar.Done || ar.ClientID == "" {
		return nil
	}
	return ar
}

// enrolData is the enrolment page: the QR code and the secret, and the form that
// confirms them with a code.
type enrolData struct {
	Secret        string
	URI           template.URL
	QR            template.URL
	FormToken     string
	AuthRequestID string
	ClientName    string
	Replacing     bool
	Notice        string
	Error         string
}

// manageData is the page of a person who has a second factor.
type manageData struct {
	EnrolledAt       time.Time
	RecoveryLeft     int
	FormToken        string
	PasswordAccepted bool
	Required         bool
	ContinueURL      string
	ClientName       string
	Notice           string
	Error            string
}

// recoveryData shows fresh recovery codes, once.
type recoveryData struct {
	Codes       []string
	ContinueURL string
	ClientName  string
	Enrolled    bool
}

// Notices selected by a query parameter: fixed texts, never the parameter itself.
var accountNotices = map[string]string{
	"removed": "Two-step sign-in is off. You can set it up again below.",
}

func (h *Handler) enrolFormToken(sess *storage.Session, authRequestID string) string {
	return h.formToken("account-totp", sess.SID+"\x00"+authRequestID)
}

func (h *Handler) manageFormToken(sess *storage.Session) string {
	return h.formToken("account-manage", sess.SID)
}

// accountTOTPPage shows the enrolment (for a person without a second factor) or
// the management page.
func (h *Handler) accountTOTPPage(w http.ResponseWriter, r *http.Request) {
	sess, user := h.accountSession(w, r)
	if sess == nil {
		return
	}
	q := r.URL.Query()
	ar := h.continuing(r, q.Get("authRequestID"))
	notice := accountNotices[q.Get("notice")]
	if user.TOTP.Enrolled() {
		h.showManage(w, r, http.StatusOK, sess, user, ar, notice, "")
		return
	}
	// Reloading the page shows the same secret while it is pending.
	e, err := h.totp.BeginEnrolment(r.Context(), h.store, user.ID, sess.SID, true)
	if err != nil {
		h.enrolFailed(w, r, user, err)
		return
	}
	h.showEnrol(w, r, http.StatusOK, sess, user, ar, e, notice, "")
}

func (h *Handler) enrolFailed(w http.ResponseWriter, r *http.Request, user *storage.User, err error) {
	h.log.ErrorContext(r.Context(), "begin enrolment", "subject", user.ID, "error", err)
	h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not start setting up two-step sign-in. Please try again.")
}

// showEnrol renders the enrolment page for e.
func (h *Handler) showEnrol(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, ar *storage.AuthRequest, e *totp.Enrolment, notice, msg string) {
	ctx := r.Context()
	d := enrolData{
		Secret: e.Secret, URI: template.URL(e.URI), QR: template.URL(e.QR),
		Replacing: user.TOTP.Enrolled(), Notice: notice, Error: msg,
	}
	if ar != nil {
		d.AuthRequestID, d.ClientName = ar.ID, h.clientName(ctx, ar.ClientID)
	}
	d.FormToken = h.enrolFormToken(sess, d.AuthRequestID)
	h.render(w, r, status, "account-enrol", "Set up two-step sign-in", d)
}

func (h *Handler) showManage(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, ar *storage.AuthRequest, notice, msg string) {
	d := manageData{
		EnrolledAt: user.TOTP.EnrolledAt, RecoveryLeft: len(user.TOTP.RecoveryCodes),
		FormToken:        h.manageFormToken(sess),
		PasswordAccepted: sess.ACR == ACRMFA,
		Required:         h.mfaRequired,
		Notice:           notice, Error: msg,
	}
	if ar != nil {
		d.ContinueURL, d.ClientName = h.route(PathLogin+"?authRequestID="+ar.ID), h.clientName(r.Context(), ar.ClientID)
	}
	h.render(w, r, status, "account-manage", "Two-step sign-in", d)
}

// accountTOTPConfirm completes an enrolment with a code of the new secret, then
// shows the recovery codes once. When the enrolment was part of an application's
// sign-in, it is that sign-in's second factor: the session is upgraded and the
// sign-in continues.
func (h *Handler) accountTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	sess, user := h.accountSession(w, r)
	if sess == nil {
		return
	}
	if !h.readForm(w, r) {
		return
	}
	arID := r.PostForm.Get("auth_request_id")
	if len(arID) > storage.MaxAuthRequestIDLen || !h.checkFormToken("account-totp", sess.SID+"\x00"+arID, r.PostForm.Get("csrf_token")) {
		h.ErrorPage(w, r, http.StatusForbidden, "Request refused", "This form is not valid any more. Open your account page again.")
		return
	}
	ctx := r.Context()
	ar := h.continuing(r, arID)
	codes, err := h.totp.ConfirmEnrolment(ctx, h.store, user.ID, sess.SID, r.PostForm.Get("code"))
	switch {
	case errors.Is(err, totp.ErrNoEnrolment) && user.TOTP.Enrolled():
		h.showManage(w, r, http.StatusBadRequest, sess, user, ar, "", "Setting up the new authenticator took too long. Start again.")
		return
	case errors.Is(err, totp.ErrRejected):
		h.log.InfoContext(ctx, "enrolment code refused", "event", "totp_enrol_failed", "reason", err.Error(), "subject", user.ID, "address", r.RemoteAddr)
		// Show the same secret again. A re-enrolment never gets a new one here:
		// only the password or a code opens that.
		var e *totp.Enrolment
		if user.TOTP.Enrolled() {
			e, err = h.totp.PendingEnrolment(ctx, h.store, user.ID, sess.SID)
			if errors.Is(err, totp.ErrNoEnrolment) {
				h.showManage(w, r, http.StatusBadRequest, sess, user, ar, "", "Setting up the new authenticator took too long. Start again.")
				return
			}
		} else {
			e, err = h.totp.BeginEnrolment(ctx, h.store, user.ID, sess.SID, true)
		}
		if err != nil {
			h.enrolFailed(w, r, user, err)
			return
		}
		h.showEnrol(w, r, http.StatusUnauthorized, sess, user, ar, e, "", genericCodeError)
		return
	case err != nil:
		h.log.ErrorContext(ctx, "confirm enrolment", "subject", user.ID, "error", err)
		h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not finish setting up two-step sign-in. Please try again.")
		return
	}
	h.log.InfoContext(ctx, "second factor enrolled", "event", "totp_enrolled", "subject", user.ID, "replaced", user.TOTP.Enrolled(), "address", r.RemoteAddr)
	d := recoveryData{Codes: codes, Enrolled: true}
	if ar != nil {
		if _, err := h.sessions.Start(ctx, w, r, user.ID, []string{AMRPassword, AMROTP, AMRMFA}, ACRMFA, true); err != nil {
			h.log.ErrorContext(ctx, "upgrade session", "error", err)
		} else {
			d.ContinueURL, d.ClientName = h.route(PathLogin+"?authRequestID="+ar.ID), h.clientName(ctx, ar.ClientID)
		}
	}
	h.render(w, r, http.StatusOK, "account-recovery", "Your recovery codes", d)
}

// accountTOTPManage re-enrols, renews the recovery codes or removes the second
// factor. Each needs a current code, or the current password in a session that
// already used the second factor (a session that used only a password proved the
// password already, so it must show the second factor).
func (h *Handler) accountTOTPManage(w http.ResponseWriter, r *http.Request) {
	sess, user := h.accountSession(w, r)
	if sess == nil {
		return
	}
	if !h.readForm(w, r) {
		return
	}
	if !h.formValid(w, r, "account-manage", sess.SID, "This form is not valid any more. Open your account page again.") {
		return
	}
	ctx := r.Context()
	if !user.TOTP.Enrolled() {
		http.Redirect(w, r, h.route(PathAccountTOTP), http.StatusSeeOther)
		return
	}
	action := r.PostForm.Get("action")
	switch action {
	case "reenrol", "recovery", "remove":
	default:
		h.ErrorPage(w, r, http.StatusBadRequest, "Malformed form", "The form could not be read.")
		return
	}
	if action == "remove" && h.mfaRequired {
		h.showManage(w, r, http.StatusBadRequest, sess, user, nil, "", "Two-step sign-in is required here, so it cannot be turned off. You can set up a new authenticator instead.")
		return
	}
	code, pw := r.PostForm.Get("code"), r.PostForm.Get("password")
	var err error
	switch {
	case code != "":
		_, err = h.totp.Verify(ctx, h.store, user.ID, code)
	case pw != "" && sess.ACR == ACRMFA:
		_, err = h.checkPassword(r, user.Username, pw)
		if errors.Is(err, password.ErrBusy) {
			h.busy(w, r)
			return
		}
	default:
		err = totp.ErrInvalidCode
	}
	if err != nil && !errors.Is(err, totp.ErrRejected) && !errors.Is(err, errBadCredentials) {
		h.serverError(w, r, "confirm identity", err) // storage away: 503 "try again"
		return
	}
	if err != nil {
		h.log.InfoContext(ctx, "account change refused", "event", "totp_manage_failed", "action", action, "subject", user.ID, "address", r.RemoteAddr)
		msg := "That was not accepted. Enter your password, or a current code from your authenticator app."
		if sess.ACR != ACRMFA {
			msg = "That was not accepted. Enter a current code from your authenticator app, or an unused recovery code."
		}
		h.showManage(w, r, http.StatusUnauthorized, sess, user, nil, "", msg)
		return
	}
	switch action {
	case "remove":
		if err := totp.ResetMFA(ctx, h.store, user.ID); err != nil {
			h.log.ErrorContext(ctx, "remove second factor", "subject", user.ID, "error", err)
			h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not turn off two-step sign-in. Please try again.")
			return
		}
		h.log.InfoContext(ctx, "second factor removed", "event", "totp_removed", "subject", user.ID, "address", r.RemoteAddr)
		http.Redirect(w, r, h.route(PathAccountTOTP+"?notice=removed"), http.StatusSeeOther)
	case "recovery":
		codes, err := h.totp.NewRecoveryCodes(ctx, h.store, user.ID)
		if err != nil {
			h.log.ErrorContext(ctx, "new recovery codes", "subject", user.ID, "error", err)
			h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not make new recovery codes. Please try again.")
			return
		}
		h.log.InfoContext(ctx, "recovery codes renewed", "event", "totp_recovery_renewed", "subject", user.ID, "address", r.RemoteAddr)
		h.render(w, r, http.StatusOK, "account-recovery", "Your recovery codes", recoveryData{Codes: codes})
	case "reenrol":
		e, err := h.totp.BeginEnrolment(ctx, h.store, user.ID, sess.SID, false)
		if err != nil {
			h.enrolFailed(w, r, user, err)
			return
		}
		h.showEnrol(w, r, http.StatusOK, sess, user, nil, e, "", "")
	}
}
