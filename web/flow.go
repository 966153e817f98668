package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/session"
)

// flowStore is what the flow reads and writes: the auth request, its client,
// the person's groups, their grant, and a device's request.
type flowStore interface {
	storage.AuthRequests
	storage.Clients
	storage.Users
	storage.Grants
	storage.DeviceAuthorizations
}

// flow is an auth request's way through the pages once it is loaded: the
// sign-in hands an authenticated request to complete, which sends it to an
// approval page (the application's or the device's) or straight to the
// provider's callback; the approval pages load their state and finish through
// it. The sign-in, consent and device pages share one.
type flow struct {
	*base
	store    flowStore
	sessions *session.Manager
	rules    *scopeRules
	proxies  proxies
	// issuer is where an OAuth error sent back to an application says it
	// comes from.
	issuer string
}

// loadAuthRequest returns a live, not yet completed auth request, or shows why not.
func (f *flow) loadAuthRequest(w http.ResponseWriter, r *http.Request, id string) *storage.AuthRequest {
	if id == "" || len(id) > storage.MaxAuthRequestIDLen {
		f.errorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	ar, err := f.store.GetAuthRequest(r.Context(), id)
	if errors.Is(err, storage.ErrUnavailable) {
		f.serverError(w, r, "load the sign-in request", err) // "try again", 503: the request may be fine
		return nil
	}
	if err != nil || ar.Expired(f.now()) || ar.ClientID == "" {
		f.errorPage(w, r, http.StatusBadRequest, "Sign-in expired", "This sign-in request is unknown or has expired. Return to the application and start again.")
		return nil
	}
	if ar.Done {
		f.errorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return nil
	}
	return ar
}

// redirectError returns an OAuth error to the request's registered redirect URI.
func (f *flow) redirectError(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, code, desc string) {
	f.store.DeleteAuthRequest(r.Context(), ar.ID)
	http.Redirect(w, r, policy.ErrorRedirectURL(f.issuer, ar.RedirectURI, ar.State, code, desc), http.StatusFound)
}

// complete finishes an authenticated request: through the consent page when the
// person must still approve scopes, straight to the provider's callback otherwise.
func (f *flow) complete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session) {
	if isDeviceRequest(ar) {
		f.deviceComplete(w, r, ar, s) // always asks, and never goes to the callback
		return
	}
	ctx := r.Context()
	c, err := f.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		f.errorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this sign-in is no longer registered.")
		return
	}
	// A client limited to some groups is refused to everyone else, before any
	// consent; the app learns access_denied and nothing about the person.
	allowed, ok := f.mayUse(w, r, c, s, "sign-in")
	if !ok {
		return
	}
	if !allowed {
		f.redirectError(w, r, ar, "access_denied", "You have no access to this application.")
		return
	}
	g, err := f.store.GetGrant(ctx, s.UserID, c.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.serverError(w, r, "load grant", err)
		return
	}
	if len(f.rules.toAsk(ar, c, g)) == 0 {
		f.finish(w, r, ar, s, f.rules.granted(ar, c, g))
		return
	}
	if slices.Contains(ar.Prompt, "none") {
		f.redirectError(w, r, ar, "consent_required", "the user has not approved this application")
		return
	}
	f.toApproval(w, r, ar, s, PathConsent, "This sign-in request was already completed. Return to the application and start again.")
}

// deviceComplete is complete for a device request, once the person is signed
// in with every factor it needs: on to the device consent page.
func (f *flow) deviceComplete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session) {
	c, err := f.store.GetClient(r.Context(), ar.ClientID)
	if err != nil {
		f.errorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this device is no longer registered.")
		return
	}
	allowed, ok := f.mayUse(w, r, c, s, "device")
	if !ok {
		return
	}
	if !allowed {
		f.decideDevice(w, r, ar, s, nil, "You have no access to this application. The device was told so.")
		return
	}
	f.toApproval(w, r, ar, s, PathDeviceConsent, "This sign-in request was already completed. Enter the code from your device again.")
}

// mayUse reports whether the session's person may use c, which may be limited
// to some groups; a refusal is logged (who is refused: "sign-in", "device").
// ok is false when it has answered the request (the person could not be read).
func (f *flow) mayUse(w http.ResponseWriter, r *http.Request, c *storage.Client, s *storage.Session, who string) (allowed, ok bool) {
	if len(c.AllowedGroups) == 0 {
		return true, true
	}
	ctx := r.Context()
	u, err := f.store.GetUser(ctx, s.UserID)
	if err != nil {
		f.serverError(w, r, "load user", err)
		return false, false
	}
	if policy.MayUse(u.Groups, c.AllowedGroups) {
		return true, true
	}
	f.log.InfoContext(ctx, who+" refused: not in a group allowed for the client", "event", "access_denied_group",
		"subject", u.ID, "client", c.ID, "address", f.proxies.clientAddress(r))
	return false, true
}

// toApproval sends the browser to the approval page at path for ar, recording
// the session that is to approve it; done is the answer when ar was completed
// meanwhile.
func (f *flow) toApproval(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session, path, done string) {
	if _, err := f.store.UpdateAuthRequest(r.Context(), ar.ID, func(a *storage.AuthRequest) error {
		if a.Done {
			return storage.ErrConflict
		}
		a.ConsentSID = s.SID
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = "", time.Time{}, ""
		return nil
	}); err != nil {
		f.errorPage(w, r, http.StatusBadRequest, "Sign-in already completed", done)
		return
	}
	http.Redirect(w, r, f.route(path+"?authRequestID="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// finish marks the auth request done for the session's person with the granted
// scopes and sends the browser to the provider's callback.
func (f *flow) finish(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session, scopes []string) {
	_, err := f.store.UpdateAuthRequest(r.Context(), ar.ID, func(a *storage.AuthRequest) error {
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
		f.errorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return
	}
	http.Redirect(w, r, policy.CallbackURL(f.basePath, ar.ID), http.StatusSeeOther)
}

// approvalState loads a request waiting on an approval page for this browser's
// session, or shows why not.
func (f *flow) approvalState(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, *storage.Session, *storage.User, *storage.Client, *storage.Grant) {
	ar := f.loadAuthRequest(w, r, id)
	if ar == nil {
		return nil, nil, nil, nil, nil
	}
	ctx := r.Context()
	sess, user := f.sessions.Current(ctx, r)
	if sess == nil || ar.ConsentSID == "" || sess.SID != ar.ConsentSID {
		f.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This approval page does not belong to your current sign-in. Return to the application and start again.")
		return nil, nil, nil, nil, nil
	}
	c, err := f.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		f.errorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this sign-in is no longer registered.")
		return nil, nil, nil, nil, nil
	}
	g, err := f.store.GetGrant(ctx, user.ID, c.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		f.serverError(w, r, "load grant", err)
		return nil, nil, nil, nil, nil
	}
	return ar, sess, user, c, g
}

// decideDevice records the decision on the device request (approved with
// granted, or denied when granted is nil), ends the auth request and shows the
// outcome. denial is the page's message for a denial.
func (f *flow) decideDevice(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session, granted []string, denial string) {
	ctx := r.Context()
	now := f.now().UTC()
	_, err := f.store.UpdateDeviceAuthorization(ctx, ar.State, func(d *storage.DeviceAuthorization) error {
		if d.Status != storage.DevicePending || d.Expired(now) || d.ClientID != ar.ClientID {
			return storage.ErrConflict
		}
		if granted == nil {
			d.Status = storage.DeviceDenied
			return nil
		}
		d.Status = storage.DeviceApproved
		d.UserID, d.AuthTime, d.AMR, d.ACR = s.UserID, s.AuthTime, slices.Clone(s.AMR), s.ACR
		d.SessionSID, d.SessionExpiresAt = s.SID, s.ExpiresAt
		d.GrantedScopes = granted
		return nil
	})
	// The auth request has served its purpose either way; its page cannot
	// decide twice.
	if derr := f.store.DeleteAuthRequest(ctx, ar.ID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
		f.log.WarnContext(ctx, "delete a decided device sign-in", "error", derr)
	}
	switch {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		f.errorPage(w, r, http.StatusBadRequest, "Code expired",
			"This device code has expired or was already used. Start again on the device, and enter the new code it shows.")
		return
	case err != nil:
		f.serverError(w, r, "record a device decision", err)
		return
	}
	if granted == nil {
		f.render(w, r, http.StatusOK, "device-done", "Device not connected", deviceDoneData{Message: denial})
		return
	}
	f.render(w, r, http.StatusOK, "device-done", "Device connected", deviceDoneData{Approved: true, ClientName: clientName(ctx, f.store, ar.ClientID)})
}

// isDeviceRequest reports whether ar was started on the /device page: its
// response type is the grant's own, which /authorize never stores (it accepts
// only "code").
func isDeviceRequest(ar *storage.AuthRequest) bool {
	return ar.ResponseType == policy.GrantDeviceCode
}
