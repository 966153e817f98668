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

// The device authorization grant's pages (RFC 8628). A person enters the user
// code a device shows on /device; a valid code starts an auth request for the
// device's client, which goes through the same sign-in as any application's
// (password, second factor where the client, the policy or the person's own
// enrolment asks for one, step-up of an existing session). Where a browser
// request would then go to consent and the provider's callback, a device
// request goes to /device/consent instead: the person always sees which app
// asks and approves scope by scope, even for a first-party client or scopes
// approved before, since a code typed in from elsewhere may be a phisher's
// (section 5.4). The decision is recorded on the stored device request, which
// the device's next poll redeems; the auth request is then done with.

// Paths of the device pages.
const (
	// PathDevice is where a person enters a user code (the verification_uri).
	PathDevice = "/device"
	// PathDeviceConsent is where the signed-in person approves the device.
	PathDeviceConsent = "/device/consent"
)

// Form steps bound into the device pages' form tokens.
const (
	stepDevice        = "device"
	stepDeviceConsent = "device-consent"
)

// genericUserCodeError is the one answer to every refused user code: unknown,
// malformed, expired or already decided, so that a guesser learns nothing.
const genericUserCodeError = "That code was not accepted. Check the code your device shows now and enter it again."

// isDeviceRequest reports whether ar was started on the /device page: its
// response type is the grant's own, which /authorize never stores (it accepts
// only "code").
func isDeviceRequest(ar *storage.AuthRequest) bool {
	return ar.ResponseType == policy.GrantDeviceCode
}

type deviceData struct {
	FormToken string
	UserCode  string
	Error     string
}

type deviceDoneData struct {
	Approved   bool
	ClientName string
	Message    string
}

func (h *Handler) deviceRoutes(mux *http.ServeMux, page func(http.HandlerFunc) http.Handler) {
	mux.Handle("GET "+PathDevice, page(h.devicePage))
	mux.Handle("POST "+PathDevice, page(h.deviceSubmit))
	mux.Handle("GET "+PathDeviceConsent, page(h.deviceConsentPage))
	mux.Handle("POST "+PathDeviceConsent, page(h.deviceConsentSubmit))
}

// devicePage shows the code form, filled in from verification_uri_complete's
// user_code. It never submits by itself: the person confirms the code.
func (h *Handler) devicePage(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get("user_code")
	if code, ok := policy.NormalizeUserCode(typed); ok {
		typed = policy.FormatUserCode(code)
	} else if len(typed) > 64 {
		typed = ""
	}
	h.showDevice(w, r, http.StatusOK, typed, "")
}

func (h *Handler) showDevice(w http.ResponseWriter, r *http.Request, status int, typed, msg string) {
	// The form token is bound to this browser (a cookie set with the form), so
	// a form fetched elsewhere cannot be posted from here.
	h.render(w, r, status, "device", "Connect a device", deviceData{
		FormToken: h.formToken(stepDevice, h.sessions.PendingBinding(w, r)), UserCode: typed, Error: msg,
	})
}

// deviceSubmit looks the code up and starts the sign-in for the device's
// client. Wrong codes count against the client address like wrong passwords,
// and a locked address is refused before any look-up.
func (h *Handler) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.formValid(w, r, stepDevice, h.sessions.BrowserBinding(r), "This form is not valid any more. Open the page again and enter the code.") {
		return
	}
	if h.addressLocked(w, r) {
		return
	}
	ctx := r.Context()
	typed := r.PostForm.Get("user_code")
	now := h.now().UTC()
	var d *storage.DeviceAuthorization
	if code, ok := policy.NormalizeUserCode(typed); ok {
		found, err := h.store.GetDeviceAuthorizationByUserCode(ctx, policy.UserCodeHash(h.cfg.CookieKey, code))
		switch {
		case err == nil && found.Status == storage.DevicePending && !found.Expired(now):
			d = found
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, "look up a device code", err)
			return
		}
	}
	if d == nil {
		h.addressFailed(ctx, h.clientAddress(r))
		// Never the code itself: it is as good as the approval while it lives.
		h.log.InfoContext(ctx, "device code refused", "event", "device_code_failed", "address", h.clientAddress(r))
		if len(typed) > 64 {
			typed = ""
		}
		h.showDevice(w, r, http.StatusBadRequest, typed, genericUserCodeError)
		return
	}
	// A sign-in request for the device's client, as /authorize would make one:
	// nothing is stored until someone signs in (pending requests are sealed in
	// their ids), and it lives no longer than the device's code.
	ar := &storage.AuthRequest{
		ID: session.NewSecret(), ClientID: d.ClientID, ResponseType: policy.GrantDeviceCode,
		Scopes: slices.Clone(d.Scopes), State: d.DeviceCodeHash, MaxAge: -1,
		CreatedAt: now, ExpiresAt: d.ExpiresAt,
	}
	if err := h.store.CreateAuthRequest(ctx, ar); err != nil {
		h.serverError(w, r, "create a device sign-in", err)
		return
	}
	h.log.InfoContext(ctx, "device code accepted, sign-in next", "event", "device_code_accepted", "client", d.ClientID, "address", h.clientAddress(r))
	http.Redirect(w, r, h.route(PathLogin+"?authRequestID="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// deviceComplete is complete for a device request, once the person is signed
// in with every factor it needs: on to the device consent page.
func (h *Handler) deviceComplete(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session) {
	ctx := r.Context()
	c, err := h.store.GetClient(ctx, ar.ClientID)
	if err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Unknown application", "The application of this device is no longer registered.")
		return
	}
	if len(c.AllowedGroups) > 0 {
		u, err := h.store.GetUser(ctx, s.UserID)
		if err != nil {
			h.serverError(w, r, "load user", err)
			return
		}
		if !policy.MayUse(u.Groups, c.AllowedGroups) {
			h.log.InfoContext(ctx, "device refused: not in a group allowed for the client", "event", "access_denied_group",
				"subject", u.ID, "client", c.ID, "address", h.clientAddress(r))
			h.decideDevice(w, r, ar, s, nil, "You have no access to this application. The device was told so.")
			return
		}
	}
	if _, err := h.store.UpdateAuthRequest(ctx, ar.ID, func(a *storage.AuthRequest) error {
		if a.Done {
			return storage.ErrConflict
		}
		a.ConsentSID = s.SID
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = "", time.Time{}, ""
		return nil
	}); err != nil {
		h.ErrorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Enter the code from your device again.")
		return
	}
	http.Redirect(w, r, h.route(PathDeviceConsent+"?authRequestID="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// deviceState is consentState for a device request, with its stored device
// request, which must still wait for a decision.
func (h *Handler) deviceState(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, *storage.Session, *storage.User, *storage.Client, *storage.DeviceAuthorization) {
	ar, sess, user, c, _ := h.consentState(w, r, id)
	if ar == nil {
		return nil, nil, nil, nil, nil
	}
	if !isDeviceRequest(ar) {
		h.ErrorPage(w, r, http.StatusBadRequest, "Request refused", "This page is for connecting a device. Return to the application and start again.")
		return nil, nil, nil, nil, nil
	}
	d, err := h.store.GetDeviceAuthorization(r.Context(), ar.State)
	if err != nil || d.ClientID != ar.ClientID || d.Status != storage.DevicePending || d.Expired(h.now()) {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.serverError(w, r, "load a device request", err)
			return nil, nil, nil, nil, nil
		}
		h.ErrorPage(w, r, http.StatusBadRequest, "Code expired",
			"This device code has expired or was already used. Start again on the device, and enter the new code it shows.")
		return nil, nil, nil, nil, nil
	}
	return ar, sess, user, c, d
}

func (h *Handler) deviceConsentPage(w http.ResponseWriter, r *http.Request) {
	ar, _, user, c, _ := h.deviceState(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	h.showDeviceConsent(w, r, http.StatusOK, ar, user, c, "")
}

func (h *Handler) showDeviceConsent(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, user *storage.User, c *storage.Client, msg string) {
	d := consentData{
		AuthRequestID: ar.ID, FormToken: h.formToken(stepDeviceConsent, ar.ID),
		ClientName: c.Name, UserName: user.Name, Error: msg,
	}
	if d.ClientName == "" {
		d.ClientName = c.ID
	}
	if d.UserName == "" {
		d.UserName = user.Username
	}
	owner := h.scopeOwners(r.Context())
	for _, s := range ar.Scopes {
		d.Ask = append(d.Ask, consentScope{Name: s, Description: h.scope(s).Description, Required: !h.optional(s), API: owner[s]})
	}
	groupByAPI(d.Ask)
	h.render(w, r, status, "device-consent", "Allow access?", d)
}

// deviceConsentSubmit records the decision: allow grants the required scopes
// and the ticked optional ones (remembered as the person's grant to the app,
// which the account page lists and can revoke) and approves the device
// request; deny refuses it, and the device's next poll gets access_denied.
func (h *Handler) deviceConsentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if !h.formValid(w, r, stepDeviceConsent, id, "This form is not valid for this device. Enter the code from your device again.") {
		return
	}
	ar, sess, user, c, _ := h.deviceState(w, r, id)
	if ar == nil {
		return
	}
	ctx := r.Context()
	ticked := r.PostForm["scope"]
	if len(ticked) > len(ar.Scopes)+8 {
		h.ErrorPage(w, r, http.StatusBadRequest, "Malformed form", "The form carries more scopes than were requested.")
		return
	}
	for _, s := range ticked {
		if !slices.Contains(ar.Scopes, s) {
			h.showDeviceConsent(w, r, http.StatusBadRequest, ar, user, c, "The form named a permission this device did not ask for. Nothing was approved; choose again.")
			return
		}
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		h.log.InfoContext(ctx, "device denied", "event", "consent_denied", "subject", user.ID, "client", c.ID)
		h.decideDevice(w, r, ar, sess, nil, "You denied the request. The device gets no access.")
		return
	case "allow":
	default:
		h.showDeviceConsent(w, r, http.StatusBadRequest, ar, user, c, "Choose Allow or Deny.")
		return
	}
	var granted, declined []string
	for _, s := range ar.Scopes {
		if !h.optional(s) || slices.Contains(ticked, s) {
			granted = append(granted, s)
		} else {
			declined = append(declined, s)
		}
	}
	now := h.now().UTC()
	// The grant first: the token endpoint redeems the device only while the
	// person's grant to the app stands. The decisions merge into the grant as
	// stored, as on the consent page.
	_, err := h.store.UpdateGrant(ctx, user.ID, c.ID, func(cur *storage.Grant) (*storage.Grant, error) {
		next := &storage.Grant{UserID: user.ID, ClientID: c.ID, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.CreatedAt = cur.CreatedAt
			for _, s := range cur.Scopes {
				if !slices.Contains(ar.Scopes, s) {
					next.Scopes = append(next.Scopes, s)
				}
			}
			for _, s := range cur.Declined {
				if !slices.Contains(ar.Scopes, s) {
					next.Declined = append(next.Declined, s)
				}
			}
		}
		next.Scopes = append(next.Scopes, granted...)
		next.Declined = append(next.Declined, declined...)
		return next, nil
	})
	if err != nil {
		h.serverError(w, r, "store grant", err)
		return
	}
	h.log.InfoContext(ctx, "device approved", "event", "consent", "subject", user.ID, "client", c.ID, "scopes", granted)
	h.decideDevice(w, r, ar, sess, granted, "")
}

// decideDevice records the decision on the device request (approved with
// granted, or denied when granted is nil), ends the auth request and shows the
// outcome. denial is the page's message for a denial.
func (h *Handler) decideDevice(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, s *storage.Session, granted []string, denial string) {
	ctx := r.Context()
	now := h.now().UTC()
	_, err := h.store.UpdateDeviceAuthorization(ctx, ar.State, func(d *storage.DeviceAuthorization) error {
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
	if derr := h.store.DeleteAuthRequest(ctx, ar.ID); derr != nil && !errors.Is(derr, storage.ErrNotFound) {
		h.log.WarnContext(ctx, "delete a decided device sign-in", "error", derr)
	}
	switch {
	case errors.Is(err, storage.ErrConflict), errors.Is(err, storage.ErrNotFound):
		h.ErrorPage(w, r, http.StatusBadRequest, "Code expired",
			"This device code has expired or was already used. Start again on the device, and enter the new code it shows.")
		return
	case err != nil:
		h.serverError(w, r, "record a device decision", err)
		return
	}
	if granted == nil {
		h.render(w, r, http.StatusOK, "device-done", "Device not connected", deviceDoneData{Message: denial})
		return
	}
	h.render(w, r, http.StatusOK, "device-done", "Device connected", deviceDoneData{Approved: true, ClientName: h.clientName(ctx, ar.ClientID)})
}
