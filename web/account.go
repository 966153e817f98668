package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
	"github.com/signet-idp/signet/web/session"
)

// accountPages serves the account pages of a signed-in person: the overview
// (apps with access, sessions, password) and the second factor (enrolment,
// recovery codes, removal). Signing in to them is the sign-in's.
type accountPages struct {
	*base
	// store is the whole store: what ends access (account.SetPassword,
	// account.EndSessions) reaches sessions, grants and tokens.
	store       storage.Store
	sessions    *session.Manager
	guard       *guard
	totp        *totp.Authenticator
	hasher      *password.Hasher
	access      AccessEnder
	rules       *scopeRules
	mfaRequired bool
}

type accountApp struct {
	ClientID   string
	ClientName string
	Scopes     []consentScope
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

type accountSession struct {
	SID      string
	Current  bool
	Created  time.Time
	LastSeen time.Time
	TwoStep  bool
}

type accountData struct {
	Name      string
	Username  string
	Email     string
	TOTP      bool
	Apps      []accountApp
	Sessions  []accountSession
	FormToken string
	Notice    string
	Error     string
}

var accountHomeNotices = map[string]string{
	"revoked":  "Access removed. The app's sign-in and tokens no longer work.",
	"ended":    "Your other sessions are signed out.",
	"password": "Your password is changed. Your other sessions are signed out, and apps lose the access they had: each will ask you to sign in again.",
}

func (h *accountPages) accountFormToken(sess *storage.Session) string {
	return h.formToken("account-home", sess.SID)
}

func (h *accountPages) accountHome(w http.ResponseWriter, r *http.Request) {
	sess, user := h.sessions.Current(r.Context(), r)
	if sess == nil {
		http.Redirect(w, r, h.route(PathAccountLogin+"?next="+url.QueryEscape(PathAccount)), http.StatusSeeOther)
		return
	}
	h.showAccountHome(w, r, http.StatusOK, sess, user, accountHomeNotices[r.URL.Query().Get("done")], "")
}

func (h *accountPages) showAccountHome(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, notice, msg string) {
	ctx := r.Context()
	d := accountData{
		Name: user.Name, Username: user.Username, Email: user.Email, TOTP: user.TOTP.Enrolled(),
		FormToken: h.accountFormToken(sess), Notice: notice, Error: msg,
	}
	grants, err := h.store.ListUserGrants(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, "list grants", err)
		return
	}
	for _, g := range grants {
		app := accountApp{ClientID: g.ClientID, ClientName: clientName(ctx, h.store, g.ClientID), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
		for _, s := range g.Scopes {
			sc := h.rules.scope(s)
			app.Scopes = append(app.Scopes, consentScope{Name: s, Description: sc.Description})
		}
		d.Apps = append(d.Apps, app)
	}
	sessions, err := h.store.ListUserSessions(ctx, user.ID)
	if err != nil {
		h.serverError(w, r, "list sessions", err)
		return
	}
	now := h.now()
	for _, s := range sessions {
		// An idle session is over, even before the janitor ends it.
		if s.Expired(now) || (s.SID != sess.SID && h.sessions.Idle(s, now)) {
			continue
		}
		d.Sessions = append(d.Sessions, accountSession{
			SID: s.SID, Current: s.SID == sess.SID, Created: s.CreatedAt, LastSeen: s.LastSeen, TwoStep: s.ACR == ACRMFA,
		})
	}
	slices.SortFunc(d.Sessions, func(a, b accountSession) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return b.Created.Compare(a.Created)
	})
	h.render(w, r, status, "account-home", "Your account", d)
}

// accountPost checks an account form: the person's session and the form token
// bound to it.
func (h *accountPages) accountPost(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	if !h.readForm(w, r) {
		return nil, nil, false
	}
	sess, user := h.sessions.Current(r.Context(), r)
	if sess == nil {
		http.Redirect(w, r, h.route(PathAccountLogin+"?next="+url.QueryEscape(PathAccount)), http.StatusSeeOther)
		return nil, nil, false
	}
	if !h.formValid(w, r, "account-home", sess.SID, "This form is not valid any more. Open your account page and try again.") {
		return nil, nil, false
	}
	return sess, user, true
}

// accountRevoke takes back an app's access: the grant and every token the app
// holds for this person.
func (h *accountPages) accountRevoke(w http.ResponseWriter, r *http.Request) {
	sess, user, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	clientID := r.PostForm.Get("client_id")
	if clientID == "" || len(clientID) > 128 {
		h.showAccountHome(w, r, http.StatusBadRequest, sess, user, "", "Choose an app to remove.")
		return
	}
	if err := h.access.RevokeGrant(r.Context(), user.ID, clientID); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			h.showAccountHome(w, r, http.StatusNotFound, sess, user, "", "That app has no access to remove.")
			return
		}
		h.serverError(w, r, "revoke grant", err)
		return
	}
	http.Redirect(w, r, h.route(PathAccount+"?done=revoked"), http.StatusSeeOther)
}

// accountSessions ends the person's other sessions ("others") or all of them
// ("all"), each with back-channel logout notices to its apps.
func (h *accountPages) accountSessions(w http.ResponseWriter, r *http.Request) {
	sess, user, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	scope := r.PostForm.Get("end")
	if scope != "others" && scope != "all" {
		h.showAccountHome(w, r, http.StatusBadRequest, sess, user, "", "Choose which sessions to sign out.")
		return
	}
	if err := h.endSessions(r.Context(), user.ID, sess.SID, scope == "all"); err != nil {
		h.serverError(w, r, "end sessions", err)
		return
	}
	if scope == "all" {
		h.sessions.ClearCookie(w)
		h.render(w, r, http.StatusOK, "error", "Signed out", templates.Message{Message: "You are signed out everywhere. Every app you used in those sessions was told."})
		return
	}
	http.Redirect(w, r, h.route(PathAccount+"?done=ended"), http.StatusSeeOther)
}

// endSessions ends the user's sessions, keeping keepSID unless all. A second
// factor shown for enrolment in an ended session can no longer be confirmed.
func (h *accountPages) endSessions(ctx context.Context, userID, keepSID string, all bool) error {
	if _, err := h.store.UpdateUser(ctx, userID, func(u *storage.User) error {
		if all || u.TOTP.PendingSID != keepSID {
			totp.ClearPending(&u.TOTP)
		}
		return nil
	}); err != nil {
		return err
	}
	if all {
		keepSID = ""
	}
	_, err := account.EndSessions(ctx, h.store, h.access, userID, keepSID)
	return err
}

// accountPassword changes the password: the current one is required, and every
// other session ends.
func (h *accountPages) accountPassword(w http.ResponseWriter, r *http.Request) {
	sess, user, ok := h.accountPost(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	current, next, confirm := r.PostForm.Get("current_password"), r.PostForm.Get("new_password"), r.PostForm.Get("confirm_password")
	if len(next) < 8 || len(next) > 1024 {
		h.showAccountHome(w, r, http.StatusBadRequest, sess, user, "", "The new password must be 8 to 1024 characters long.")
		return
	}
	if next != confirm {
		h.showAccountHome(w, r, http.StatusBadRequest, sess, user, "", "The new password and its confirmation differ.")
		return
	}
	if _, err := h.guard.checkPassword(r, user.Username, current); errors.Is(err, password.ErrBusy) {
		h.guard.busy(w, r)
		return
	} else if err != nil && !errors.Is(err, errBadCredentials) {
		h.serverError(w, r, "check the current password", err) // storage away: 503 "try again"
		return
	} else if err != nil {
		h.log.InfoContext(ctx, "password change refused", "event", "password_change_failed", "subject", user.ID, "address", r.RemoteAddr)
		h.showAccountHome(w, r, http.StatusUnauthorized, sess, user, "", "The current password is incorrect.")
		return
	}
	enc, err := h.hasher.Hash(ctx, next)
	if err != nil {
		h.serverError(w, r, "hash password", err)
		return
	}
	// This browser stays signed in; every other session, every refresh token
	// and every access token given out under the old password ends.
	ended, err := account.SetPassword(ctx, h.store, h.access, user.ID, enc, sess.SID, h.now())
	if err != nil {
		h.serverError(w, r, "change password", err)
		return
	}
	h.log.InfoContext(ctx, "password changed", "event", "password_changed", "subject", user.ID,
		"sessions_ended", ended.Sessions, "refresh_families_revoked", ended.RefreshFamilies, "address", r.RemoteAddr)
	http.Redirect(w, r, h.route(PathAccount+"?done=password"), http.StatusSeeOther)
}

// accountSession returns the browser's session and person, or sends the browser
// to sign in.
func (h *accountPages) accountSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User) {
	sess, user := h.sessions.Current(r.Context(), r)
	if sess == nil {
		http.Redirect(w, r, h.route(PathAccountLogin), http.StatusSeeOther)
		return nil, nil
	}
	return sess, user
}

// continuing returns the application sign-in that sent the person to enrol, if
// id names one that is still open; otherwise nil.
func (h *accountPages) continuing(r *http.Request, id string) *storage.AuthRequest {
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

func (h *accountPages) enrolFormToken(sess *storage.Session, authRequestID string) string {
	return h.formToken("account-totp", sess.SID+"\x00"+authRequestID)
}

func (h *accountPages) manageFormToken(sess *storage.Session) string {
	return h.formToken("account-manage", sess.SID)
}

// accountTOTPPage shows the enrolment (for a person without a second factor) or
// the management page.
func (h *accountPages) accountTOTPPage(w http.ResponseWriter, r *http.Request) {
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

func (h *accountPages) enrolFailed(w http.ResponseWriter, r *http.Request, user *storage.User, err error) {
	h.log.ErrorContext(r.Context(), "begin enrolment", "subject", user.ID, "error", err)
	h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not start setting up two-step sign-in. Please try again.")
}

// showEnrol renders the enrolment page for e.
func (h *accountPages) showEnrol(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, ar *storage.AuthRequest, e *totp.Enrolment, notice, msg string) {
	ctx := r.Context()
	d := enrolData{
		Secret: e.Secret, URI: template.URL(e.URI), QR: template.URL(e.QR),
		Replacing: user.TOTP.Enrolled(), Notice: notice, Error: msg,
	}
	if ar != nil {
		d.AuthRequestID, d.ClientName = ar.ID, clientName(ctx, h.store, ar.ClientID)
	}
	d.FormToken = h.enrolFormToken(sess, d.AuthRequestID)
	h.render(w, r, status, "account-enrol", "Set up two-step sign-in", d)
}

func (h *accountPages) showManage(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, ar *storage.AuthRequest, notice, msg string) {
	d := manageData{
		EnrolledAt: user.TOTP.EnrolledAt, RecoveryLeft: len(user.TOTP.RecoveryCodes),
		FormToken:        h.manageFormToken(sess),
		PasswordAccepted: sess.ACR == ACRMFA,
		Required:         h.mfaRequired,
		Notice:           notice, Error: msg,
	}
	if ar != nil {
		d.ContinueURL, d.ClientName = h.route(PathLogin+"?authRequestID="+ar.ID), clientName(r.Context(), h.store, ar.ClientID)
	}
	h.render(w, r, status, "account-manage", "Two-step sign-in", d)
}

// accountTOTPConfirm completes an enrolment with a code of the new secret, then
// shows the recovery codes once. When the enrolment was part of an application's
// sign-in, it is that sign-in's second factor: the session is upgraded and the
// sign-in continues.
func (h *accountPages) accountTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	sess, user := h.accountSession(w, r)
	if sess == nil {
		return
	}
	if !h.readForm(w, r) {
		return
	}
	arID := r.PostForm.Get("auth_request_id")
	if len(arID) > storage.MaxAuthRequestIDLen || !h.checkFormToken("account-totp", sess.SID+"\x00"+arID, r.PostForm.Get("csrf_token")) {
		h.errorPage(w, r, http.StatusForbidden, "Request refused", "This form is not valid any more. Open your account page again.")
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
		h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not finish setting up two-step sign-in. Please try again.")
		return
	}
	h.log.InfoContext(ctx, "second factor enrolled", "event", "totp_enrolled", "subject", user.ID, "replaced", user.TOTP.Enrolled(), "address", r.RemoteAddr)
	d := recoveryData{Codes: codes, Enrolled: true}
	if ar != nil {
		if _, err := h.sessions.Start(ctx, w, r, user.ID, []string{AMRPassword, AMROTP, AMRMFA}, ACRMFA, true); err != nil {
			h.log.ErrorContext(ctx, "upgrade session", "error", err)
		} else {
			d.ContinueURL, d.ClientName = h.route(PathLogin+"?authRequestID="+ar.ID), clientName(ctx, h.store, ar.ClientID)
		}
	}
	h.render(w, r, http.StatusOK, "account-recovery", "Your recovery codes", d)
}

// accountTOTPManage re-enrols, renews the recovery codes or removes the second
// factor. Each needs a current code, or the current password in a session that
// already used the second factor (a session that used only a password proved the
// password already, so it must show the second factor).
func (h *accountPages) accountTOTPManage(w http.ResponseWriter, r *http.Request) {
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
		h.errorPage(w, r, http.StatusBadRequest, "Malformed form", "The form could not be read.")
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
		_, err = h.guard.checkPassword(r, user.Username, pw)
		if errors.Is(err, password.ErrBusy) {
			h.guard.busy(w, r)
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
			h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not turn off two-step sign-in. Please try again.")
			return
		}
		h.log.InfoContext(ctx, "second factor removed", "event", "totp_removed", "subject", user.ID, "address", r.RemoteAddr)
		http.Redirect(w, r, h.route(PathAccountTOTP+"?notice=removed"), http.StatusSeeOther)
	case "recovery":
		codes, err := h.totp.NewRecoveryCodes(ctx, h.store, user.ID)
		if err != nil {
			h.log.ErrorContext(ctx, "new recovery codes", "subject", user.ID, "error", err)
			h.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not make new recovery codes. Please try again.")
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
