package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

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

// Form steps bound into the device pages' form tokens.
const (
	stepDevice        = "device"
	stepDeviceConsent = "device-consent"
)

// genericUserCodeError is the one answer to every refused user code: unknown,
// malformed, expired or already decided, so that a guesser learns nothing.
const genericUserCodeError = "That code was not accepted. Check the code your device shows now and enter it again."

// deviceStore is what the device pages read and write: the device's request
// (found by its user code, decided by the flow), the sign-in they start for
// it, and the person's grant to its client.
type deviceStore interface {
	storage.DeviceAuthorizations
	storage.AuthRequests
	storage.Grants
}

// devicePages serves the device authorization grant's pages: the code form,
// which starts a sign-in for the device's client, and the device's approval
// page, which the flow sends the signed-in person to.
type devicePages struct {
	*base
	store    deviceStore
	sessions *session.Manager
	flow     *flow
	rules    *scopeRules
	guard    *guard
	// codeKey keys the hashes of user codes (the cookie key).
	codeKey [32]byte
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

// devicePage shows the code form, filled in from verification_uri_complete's
// user_code. It never submits by itself: the person confirms the code.
func (h *devicePages) devicePage(w http.ResponseWriter, r *http.Request) {
	typed := r.URL.Query().Get("user_code")
	if code, ok := policy.NormalizeUserCode(typed); ok {
		typed = policy.FormatUserCode(code)
	} else if len(typed) > 64 {
		typed = ""
	}
	h.showDevice(w, r, http.StatusOK, typed, "")
}

func (h *devicePages) showDevice(w http.ResponseWriter, r *http.Request, status int, typed, msg string) {
	// The form token is bound to this browser (a cookie set with the form), so
	// a form fetched elsewhere cannot be posted from here.
	h.render(w, r, status, "device", "Connect a device", deviceData{
		FormToken: h.formToken(stepDevice, h.sessions.PendingBinding(w, r)), UserCode: typed, Error: msg,
	})
}

// deviceSubmit looks the code up and starts the sign-in for the device's
// client. Wrong codes count against the client address like wrong passwords,
// and a locked address is refused before any look-up.
func (h *devicePages) deviceSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.formValid(w, r, stepDevice, h.sessions.BrowserBinding(r), "This form is not valid any more. Open the page again and enter the code.") {
		return
	}
	if h.guard.addressLocked(w, r) {
		return
	}
	ctx := r.Context()
	typed := r.PostForm.Get("user_code")
	now := h.now().UTC()
	var d *storage.DeviceAuthorization
	if code, ok := policy.NormalizeUserCode(typed); ok {
		found, err := h.store.GetDeviceAuthorizationByUserCode(ctx, policy.UserCodeHash(h.codeKey, code))
		switch {
		case err == nil && found.Status == storage.DevicePending && !found.Expired(now):
			d = found
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			h.serverError(w, r, "look up a device code", err)
			return
		}
	}
	if d == nil {
		h.guard.addressFailed(ctx, h.guard.proxies.clientAddress(r))
		// Never the code itself: it is as good as the approval while it lives.
		h.log.InfoContext(ctx, "device code refused", "event", "device_code_failed", "address", h.guard.proxies.clientAddress(r))
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
	h.log.InfoContext(ctx, "device code accepted, sign-in next", "event", "device_code_accepted", "client", d.ClientID, "address", h.guard.proxies.clientAddress(r))
	http.Redirect(w, r, h.route(PathLogin+"?authRequestID="+url.QueryEscape(ar.ID)), http.StatusSeeOther)
}

// deviceState is approvalState for a device request, with its stored device
// request, which must still wait for a decision.
func (h *devicePages) deviceState(w http.ResponseWriter, r *http.Request, id string) (*storage.AuthRequest, *storage.Session, *storage.User, *storage.Client, *storage.DeviceAuthorization) {
	ar, sess, user, c, _ := h.flow.approvalState(w, r, id)
	if ar == nil {
		return nil, nil, nil, nil, nil
	}
	if !isDeviceRequest(ar) {
		h.errorPage(w, r, http.StatusBadRequest, "Request refused", "This page is for connecting a device. Return to the application and start again.")
		return nil, nil, nil, nil, nil
	}
	d, err := h.store.GetDeviceAuthorization(r.Context(), ar.State)
	if err != nil || d.ClientID != ar.ClientID || d.Status != storage.DevicePending || d.Expired(h.now()) {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.serverError(w, r, "load a device request", err)
			return nil, nil, nil, nil, nil
		}
		h.errorPage(w, r, http.StatusBadRequest, "Code expired",
			"This device code has expired or was already used. Start again on the device, and enter the new code it shows.")
		return nil, nil, nil, nil, nil
	}
	return ar, sess, user, c, d
}

func (h *devicePages) deviceConsentPage(w http.ResponseWriter, r *http.Request) {
	ar, _, user, c, _ := h.deviceState(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	h.showDeviceConsent(w, r, http.StatusOK, ar, user, c, "")
}

func (h *devicePages) showDeviceConsent(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, user *storage.User, c *storage.Client, msg string) {
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
	d.Ask, _ = h.rules.approvalLists(r.Context(), ar.Scopes, ar.Scopes, nil)
	h.render(w, r, status, "device-consent", "Allow access?", d)
}

// deviceConsentSubmit records the decision: allow grants the required scopes
// and the ticked optional ones (remembered as the person's grant to the app,
// which the account page lists and can revoke) and approves the device
// request; deny refuses it, and the device's next poll gets access_denied.
func (h *devicePages) deviceConsentSubmit(w http.ResponseWriter, r *http.Request) {
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
	a, retry, ok := h.readApproval(w, r, ar.Scopes, len(ar.Scopes), "device")
	if !ok {
		return
	}
	if retry != "" {
		h.showDeviceConsent(w, r, http.StatusBadRequest, ar, user, c, retry)
		return
	}
	if !a.allow {
		h.log.InfoContext(ctx, "device denied", "event", "consent_denied", "subject", user.ID, "client", c.ID)
		h.flow.decideDevice(w, r, ar, sess, nil, "You denied the request. The device gets no access.")
		return
	}
	granted, _ := h.rules.chosen(ar.Scopes, a.ticked)
	// The grant first: the token endpoint redeems the device only while the
	// person's grant to the app stands. The decisions merge into the grant as
	// stored, as on the consent page.
	if _, err := h.rules.recordGrant(ctx, h.store, user.ID, c.ID, ar.Scopes, a.ticked, h.now().UTC()); err != nil {
		h.serverError(w, r, "store grant", err)
		return
	}
	h.log.InfoContext(ctx, "device approved", "event", "consent", "subject", user.ID, "client", c.ID, "scopes", granted)
	h.flow.decideDevice(w, r, ar, sess, granted, "")
}
