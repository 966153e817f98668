package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/password"
)

// Authentication context references and methods (RFC 8176).
const (
	ACRPassword = "urn:signet:acr:pwd"
	AMRPassword = "pwd"
)

// Input bounds of the login form.
const (
	maxFormBody    = 16 << 10
	maxUsernameLen = 256
)

// genericLoginError is the one answer to every failed sign-in, so that an
// attacker cannot tell an unknown user from a wrong password or a disabled account.
const genericLoginError = "The username or password is incorrect."

type loginData struct {
	AuthRequestID string
	FormToken     string
	ClientName    string
	Username      string
	Error         string
}

// loadAuthRequest returns a live, not yet completed auth request, or shows why not.
func (h *Handler) loadAuthRequest(w http.ResponseWriter, r *http.Request, id string) *storage.AuthRequest {
	if id == "" || len(id) > 128 {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	ar, err := h.store.GetAuthRequest(r.Context(), id)
	if err != nil || ar.Expired(h.now()) {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	if ar.Done {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return nil
	}
	return ar
}

// loginPage decides, from the browser session and the request's prompt, max_age
// and id_token_hint, whether the person must sign in or is already signed in.
func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	ar := h.loadAuthRequest(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	ctx := r.Context()
	sess, _ := h.currentSession(ctx, r)
	usable := sess != nil && h.sessionSatisfies(sess, ar)
	if slices.Contains(ar.Prompt, "none") {
		if !usable {
			h.redirectError(w, r, ar, "login_required", "the user is not signed in")
			return
		}
		h.complete(w, r, ar, sess)
		return
	}
	forceLogin := slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account")
	if usable && !forceLogin {
		h.complete(w, r, ar, sess)
		return
	}
	h.showLogin(w, r, http.StatusOK, ar, ar.LoginHint, "")
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
		AuthRequestID: ar.ID,
		FormToken:     h.formToken("login", ar.ID),
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
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Malformed form", "The form could not be read.")
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if !h.checkFormToken("login", id, r.PostForm.Get("csrf_token")) {
		h.ErrorPage(w, r, http.StatusForbidden, "Request refused", "This form is not valid for this sign-in request. Return to the application and start again.")
		return
	}
	ar := h.loadAuthRequest(w, r, id)
	if ar == nil {
		return
	}
	ctx := r.Context()
	username, pw := r.PostForm.Get("username"), r.PostForm.Get("password")
	user, err := h.authenticate(ctx, username, pw)
	if errors.Is(err, password.ErrBusy) {
		w.Header().Set("Retry-After", "1")
		h.render(w, r, http.StatusServiceUnavailable, "error", "Busy", errorData{Message: "Signet is busy right now. Please try again in a moment."})
		return
	}
	if err != nil {
		h.log.InfoContext(ctx, "sign-in failed", "event", "login_failed", "client", ar.ClientID, "address", r.RemoteAddr)
		h.showLogin(w, r, http.StatusUnauthorized, ar, username, genericLoginError)
		return
	}
	now := h.now().UTC()
	// A new session id on every sign-in (no fixation); the old one ends.
	if c, err := r.Cookie(h.cookieName); err == nil && len(c.Value) <= 128 {
		h.store.DeleteSession(ctx, sessionKey(c.Value))
	}
	value := newSecret()
	sess := &storage.Session{
		ID: sessionKey(value), SID: newSecret()[:22], UserID: user.ID,
		AuthTime: now, AMR: []string{AMRPassword}, ACR: ACRPassword,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(h.cfg.SessionLifetime),
	}
	if err := h.store.CreateSession(ctx, sess); err != nil {
		h.log.ErrorContext(ctx, "create session", "error", err)
		h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not sign you in. Please try again.")
		return
	}
	h.setSessionCookie(w, value, sess.ExpiresAt)
	h.log.InfoContext(ctx, "signed in", "event", "login", "subject", user.ID, "client", ar.ClientID, "address", r.RemoteAddr)
	h.complete(w, r, ar, sess)
}

var errBadCredentials = errors.New("bad credentials")

// authenticate checks a username and password. Unknown users, disabled users and
// wrong passwords all cost one password verification and return errBadCredentials.
func (h *Handler) authenticate(ctx context.Context, username, pw string) (*storage.User, error) {
	if username == "" || len(username) > maxUsernameLen {
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errBadCredentials
	}
	user, err := h.store.GetUserByUsername(ctx, username)
	if err != nil {
		if _, err := h.cfg.Hasher.VerifyDummy(ctx, pw); errors.Is(err, password.ErrBusy) {
			return nil, err
		}
		return nil, errBadCredentials
	}
	ok, rehash, err := h.cfg.Hasher.Verify(ctx, user.PasswordHash, pw)
	if errors.Is(err, password.ErrBusy) {
		return nil, err
	}
	if err != nil || !ok || user.Disabled {
		return nil, errBadCredentials
	}
	if rehash {
		if enc, err := h.cfg.Hasher.Hash(ctx, pw); err == nil {
			if _, err := h.store.UpdateUser(ctx, user.ID, func(u *storage.User) error {
				u.PasswordHash = enc
				return nil
			}); err != nil {
				h.log.WarnContext(ctx, "upgrade password hash", "subject", user.ID, "error", err)
			}
		}
	}
	return user, nil
}

// complete marks the auth request done for the session's person and sends the
// browser to the provider's callback.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session) {
	_, err := h.store.UpdateAuthRequest(r.Context(), ar.ID, func(a *storage.AuthRequest) error {
		if a.Done {
			return storage.ErrConflict
		}
		a.Done = true
		a.UserID = s.UserID
		a.AuthTime = s.AuthTime
		a.AMR = slices.Clone(s.AMR)
		a.ACR = s.ACR
		a.SessionSID = s.SID
		a.GrantedScopes = slices.Clone(a.Scopes)
		return nil
	})
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return
	}
	http.Redirect(w, r, h.cfg.CallbackURL(ar.ID), http.StatusSeeOther)
}

// redirectError returns an OAuth error to the request's registered redirect URI.
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, code, desc string) {
	h.store.DeleteAuthRequest(r.Context(), ar.ID)
	http.Redirect(w, r, h.cfg.ErrorRedirectURL(ar.RedirectURI, ar.State, code, desc), http.StatusFound)
}
