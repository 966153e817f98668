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
	"github.com/signet-idp/signet/templates"
	"github.com/signet-idp/signet/web/account"
	"github.com/signet-idp/signet/web/credentials/password"
	"github.com/signet-idp/signet/web/credentials/totp"
)

// Paths of the consent page and the account overview.
const (
	PathConsent         = "/consent"
	PathAccount         = "/account"
	PathAccountRevoke   = "/account/apps/revoke"
	PathAccountSessions = "/account/sessions"
	PathAccountPassword = "/account/password"
)

const scopeOpenID = "openid"

// consentRoutes registers the consent page and the account overview.
func (h *Handler) consentRoutes(mux *http.ServeMux, page func(http.HandlerFunc) http.Handler) {
	mux.Handle("GET "+PathConsent, page(h.consentPage))
	mux.Handle("POST "+PathConsent, page(h.consentSubmit))
	mux.Handle("GET "+PathAccount, page(h.accountHome))
	mux.Handle("POST "+PathAccountRevoke, page(h.accountRevoke))
	mux.Handle("POST "+PathAccountSessions, page(h.accountSessions))
	mux.Handle("POST "+PathAccountPassword, page(h.accountPassword))
}

// scope returns the registry entry of name; unknown scopes are required and
// described by their name.
func (h *Handler) scope(name string) Scope {
	for _, s := range h.cfg.Scopes {
		if s.Name == name {
			return s
		}
	}
	return Scope{Name: name, Description: name}
}

func (h *Handler) optional(name string) bool {
	return name != scopeOpenID && h.scope(name).Optional
}

// toAsk returns the scopes of ar the person must still decide on: all of them
// with prompt=consent, otherwise those the remembered grant neither granted nor
// declined. First-party clients never ask.
func (h *Handler) toAsk(ar *storage.AuthRequest, c *storage.Client, g *storage.Grant) []string {
	if c.FirstParty {
		return nil
	}
	if slices.Contains(ar.Prompt, "consent") || g == nil {
		return slices.Clone(ar.Scopes)
	}
	var ask []string
	for _, s := range ar.Scopes {
		if !slices.Contains(g.Scopes, s) && !slices.Contains(g.Declined, s) {
			ask = append(ask, s)
		}
	}
	return ask
}

// granted is what ar gets from a grant: the requested scopes the grant holds,
// plus the required ones (which cannot be declined).
func (h *Handler) granted(ar *storage.AuthRequest, c *storage.Client, g *storage.Grant) []string {
	var out []string
	for _, s := range ar.Scopes {
		if c.FirstParty || !h.optional(s) || (g != nil && slices.Contains(g.Scopes, s)) {
			out = append(out, s)
		}
	}
	return out
}

// complete finishes an authenticated request: through the consent page when the
// person must still approve scopes, straight to the provider's callback otherwise.
func (h *Handler) complete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session) {
	if isDeviceRequest(ar) {
		h.deviceComplete(w, r, ar, s) // always asks, and never goes to the callback
		return
	}
	ctx := r.Context()
	c, err := h.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this sign-in is no longer registered.")
		return
	}
	// A client limited to some groups is refused to everyone else, before any
	// consent; the app learns access_denied and nothing about the person.
	if len(c.AllowedGroups) > 0 {
		u, err := h.store.GetUser(ctx, s.UserID)
		if err != nil {
			h.serverError(w, r, "load user", err)
			return
		}
		if !policy.MayUse(u.Groups, c.AllowedGroups) {
			h.log.InfoContext(ctx, "sign-in refused: not in a group allowed for the client", "event", "access_denied_group",
				"subject", u.ID, "client", c.ID, "address", h.clientAddress(r))
			h.redirectError(w, r, ar, "access_denied", "You have no access to this application.")
			return
		}
	}
	g, err := h.store.GetGrant(ctx, s.UserID, c.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, "load grant", err)
		return
	}
	if len(h.toAsk(ar, c, g)) == 0 {
		h.finish(w, r, ar, s, h.granted(ar, c, g))
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		h.redirectError(w, r, ar, "consent_required", "the user has not approved this application")
		return
	}
	if _, err := h.store.UpdateAuthRequest(ctx, ar.ID, func(a *storage.AuthRequest) error {
		if a.Done {
			return storage.ErrConflict
		}
		a.ConsentSID = s.SID
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = "", time.Time{}, ""
		return nil
	}); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return
	}
	http.Redirect(w, r, h.route(PathConsent+"?authRequestID="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// finish marks the auth request done for the session's person with the granted
// scopes and sends the browser to the provider's callback.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session, scopes []string) {
	_, err := h.store.UpdateAuthRequest(r.Context(), ar.ID, func(a *storage.AuthRequest) error {
		if a.Done || a.ClientID == "" {
			return storage.ErrConflict
		}
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = "", time.Time{}, ""
		a.ConsentSID = ""
		a.Done = true
		a.UserID = s.UserID
		a.AuthTime = s.AuthTime
		a.AMR = slices.Clone(s.AMR)
		a.ACR = s.ACR
		a.SessionSID = s.SID
		a.SessionExpiresAt = s.ExpiresAt
		a.GrantedScopes = slices.Clone(scopes)
		return nil
	})
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return
	}
	http.Redirect(w, r, policy.CallbackURL(h.cfg.BasePath, ar.ID), http.StatusSeeOther)
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		h.log.WarnContext(r.Context(), what, "event", "storage_unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		h.ErrorPage(w, r, http.StatusServiceUnavailable, "Try again in a moment", "Signet cannot reach its storage just now. Please try again in a few seconds.")
		return
	}
	h.log.ErrorContext(r.Context(), what, "error", err)
	h.ErrorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not complete this step. Please try again.")
}

// consentState loads a request waiting on the consent page for this browser's
// session, or shows why not.
func (h *Handler) consentState(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, *storage.Session, *storage.User, *storage.Client, *storage.Grant) {
	ar := h.loadAuthRequest(w, r, id)
	if ar == nil {
		return nil, nil, nil, nil, nil
	}
	ctx := r.Context()
	sess, user := h.sessions.Current(ctx, r)
	if sess == nil || ar.ConsentSID == "" || sess.SID != ar.ConsentSID {
		h.ErrorPage(w, r, http.StatusForbidden, "Request refused",
			"This approval page does not belong to your current sign-in. Return to the application and start again.")
		return nil, nil, nil, nil, nil
	}
	c, err := h.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this sign-in is no longer registered.")
		return nil, nil, nil, nil, nil
	}
	g, err := h.store.GetGrant(ctx, user.ID, c.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		h.serverError(w, r, "load grant", err)
		return nil, nil, nil, nil, nil
	}
	return ar, sess, user, c, g
}

type consentScope struct {
	Name        string
	Description string
	Required    bool
	// API names the API that owns the scope ("Calendar API, calendar.example.com");
	// APIFirst marks the first of its scopes, where the page heads the group.
	API      string
	APIFirst bool
}

type consentData struct {
	AuthRequestID string
	FormToken     string
	ClientName    string
	ClientHost    string
	UserName      string
	Ask           []consentScope
	Already       []consentScope
	Error         string
}

func (h *Handler) consentPage(w http.ResponseWriter, r *http.Request) {
	ar, _, user, c, g := h.consentState(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	h.showConsent(w, r, http.StatusOK, ar, user, c, g, "")
}

func (h *Handler) showConsent(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, user *storage.User, c *storage.Client, g *storage.Grant, msg string) {
	d := consentData{
		AuthRequestID: ar.ID, FormToken: h.formToken("consent", ar.ID),
		ClientName: c.Name, UserName: user.Name, Error: msg,
	}
	if d.UserName == "" {
		d.UserName = user.Username
	}
	if u, err := url.Parse(ar.RedirectURI); err == nil {
		d.ClientHost = u.Host
	}
	ask := h.toAsk(ar, c, g)
	owner := h.scopeOwners(r.Context())
	for _, s := range ar.Scopes {
		sc := h.scope(s)
		cs := consentScope{Name: s, Description: sc.Description, Required: !h.optional(s), API: owner[s]}
		if slices.Contains(ask, s) {
			d.Ask = append(d.Ask, cs)
		} else if g != nil && slices.Contains(g.Scopes, s) {
			d.Already = append(d.Already, cs)
		}
	}
	groupByAPI(d.Ask)
	h.render(w, r, status, "consent", "Allow access?", d)
}

// consentSubmit records the person's decision. Allow grants the required scopes
// and the ticked optional ones and remembers the rest as declined; deny returns
// access_denied to the application. Anything unexpected writes nothing.
func (h *Handler) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if !h.formValid(w, r, "consent", id, "This form is not valid for this sign-in request. Return to the application and start again.") {
		return
	}
	ar, sess, user, c, g := h.consentState(w, r, id)
	if ar == nil {
		return
	}
	ctx := r.Context()
	ask := h.toAsk(ar, c, g)
	ticked := r.PostForm["scope"]
	if len(ticked) > len(ar.Scopes)+8 {
		h.ErrorPage(w, r, http.StatusBadRequest, "Malformed form", "The form carries more scopes than were requested.")
		return
	}
	for _, s := range ticked {
		if !slices.Contains(ask, s) {
			h.showConsent(w, r, http.StatusBadRequest, ar, user, c, g, "The form named a permission this application did not ask for. Nothing was approved; choose again.")
			return
		}
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		h.log.InfoContext(ctx, "consent denied", "event", "consent_denied", "subject", user.ID, "client", c.ID)
		h.redirectError(w, r, ar, "access_denied", "the user denied the request")
		return
	case "allow":
	default:
		h.showConsent(w, r, http.StatusBadRequest, ar, user, c, g, "Choose Allow or Deny.")
		return
	}
	now := h.now().UTC()
	// The decisions merge into the grant as stored at the moment of writing,
	// so that an approval in another tab meanwhile is kept.
	next, err := h.store.UpdateGrant(ctx, user.ID, c.ID, func(cur *storage.Grant) (*storage.Grant, error) {
		next := &storage.Grant{UserID: user.ID, ClientID: c.ID, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.CreatedAt = cur.CreatedAt
			for _, s := range cur.Scopes {
				if !slices.Contains(ask, s) {
					next.Scopes = append(next.Scopes, s)
				}
			}
			for _, s := range cur.Declined {
				if !slices.Contains(ask, s) {
					next.Declined = append(next.Declined, s)
				}
			}
		}
		for _, s := range ask {
			if !h.optional(s) || slices.Contains(ticked, s) {
				next.Scopes = append(next.Scopes, s)
			} else {
				next.Declined = append(next.Declined, s)
			}
		}
		return next, nil
	})
	if err != nil {
		h.serverError(w, r, "store grant", err)
		return
	}
	h.log.InfoContext(ctx, "consent granted", "event", "consent", "subject", user.ID, "client", c.ID, "scopes", next.Scopes)
	h.finish(w, r, ar, sess, h.granted(ar, c, next))
}

// Account overview.

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

func (h *Handler) accountFormToken(sess *storage.Session) string {
	return h.formToken("account-home", sess.SID)
}

func (h *Handler) accountHome(w http.ResponseWriter, r *http.Request) {
	sess, user := h.sessions.Current(r.Context(), r)
	if sess == nil {
		http.Redirect(w, r, h.route(PathAccountLogin+"?next="+url.QueryEscape(PathAccount)), http.StatusSeeOther)
		return
	}
	h.showAccountHome(w, r, http.StatusOK, sess, user, accountHomeNotices[r.URL.Query().Get("done")], "")
}

func (h *Handler) showAccountHome(w http.ResponseWriter, r *http.Request, status int, sess *storage.Session, user *storage.User, notice, msg string) {
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
		app := accountApp{ClientID: g.ClientID, ClientName: h.clientName(ctx, g.ClientID), CreatedAt: g.CreatedAt, UpdatedAt: g.UpdatedAt}
		for _, s := range g.Scopes {
			sc := h.scope(s)
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
func (h *Handler) accountPost(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
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
func (h *Handler) accountRevoke(w http.ResponseWriter, r *http.Request) {
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
func (h *Handler) accountSessions(w http.ResponseWriter, r *http.Request) {
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
func (h *Handler) endSessions(ctx context.Context, userID, keepSID string, all bool) error {
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

// endSession ends one session, with its back-channel logout notices.
func (h *Handler) endSession(ctx context.Context, s *storage.Session) error {
	return h.access.EndSession(ctx, s)
}

// accountPassword changes the password: the current one is required, and every
// other session ends.
func (h *Handler) accountPassword(w http.ResponseWriter, r *http.Request) {
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
	if _, err := h.checkPassword(r, user.Username, current); errors.Is(err, password.ErrBusy) {
		h.busy(w, r)
		return
	} else if err != nil && !errors.Is(err, errBadCredentials) {
		h.serverError(w, r, "check the current password", err) // storage away: 503 "try again"
		return
	} else if err != nil {
		h.log.InfoContext(ctx, "password change refused", "event", "password_change_failed", "subject", user.ID, "address", r.RemoteAddr)
		h.showAccountHome(w, r, http.StatusUnauthorized, sess, user, "", "The current password is incorrect.")
		return
	}
	enc, err := h.cfg.Hasher.Hash(ctx, next)
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

// groupByAPI orders scopes for the consent pages: those about the person first,
// then each API's under its name (APIFirst marks where a group starts).
func groupByAPI(scopes []consentScope) {
	slices.SortStableFunc(scopes, func(a, b consentScope) int { return strings.Compare(a.API, b.API) })
	for i := range scopes {
		scopes[i].APIFirst = scopes[i].API != "" && (i == 0 || scopes[i-1].API != scopes[i].API)
	}
}

// scopeOwners maps each scope that belongs to an API to the API's name and
// host, as the consent page heads its group.
func (h *Handler) scopeOwners(ctx context.Context) map[string]string {
	apis, err := h.store.ListAPIs(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "list apis for the consent page", "error", err)
		return nil
	}
	out := map[string]string{}
	for _, a := range apis {
		label := a.Name
		if u, err := url.Parse(a.Audience); err == nil && u.Host != "" {
			label += ", " + u.Host
		} else {
			label += ", " + a.Audience
		}
		for _, s := range a.Scopes {
			out[s] = label
		}
	}
	return out
}
