package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/totp"
)

// Form steps bound into form tokens.
const (
	stepTOTP    = "totp"
	stepAccount = "account"
)

// genericCodeError is the one answer to every refused second factor: wrong,
// malformed, stale, already used, or refused while backing off.
const genericCodeError = "That code was not accepted. Enter the current code from your authenticator app, or an unused recovery code."

// accountRequestLifetime bounds the half-done sign-in to the account pages.
const accountRequestLifetime = 10 * time.Minute

type secondFactorData struct {
	AuthRequestID string
	FormToken     string
	// ClientName is empty for the sign-in to the account pages.
	ClientName string
	Error      string
}

// ResetMFA removes a person's second factor (TOTP secret, recovery codes, pending
// enrolment, failure count) atomically through store.UpdateUser. It is
// totp.ResetMFA, offered here for the admin service.
func ResetMFA(ctx context.Context, store storage.Users, userID string) error {
	return totp.ResetMFA(ctx, store, userID)
}

// startSecondFactor records on ar that userID passed the first factor at
// firstAt, binds that to this browser, and sends it to the code page.
func (h *signIn) startSecondFactor(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, userID string, firstAt time.Time) {
	binding := h.sessions.PendingBinding(w, r)
	_, err := h.store.UpdateAuthRequest(r.Context(), ar.ID, func(a *storage.AuthRequest) error {
		if a.Done {
			return storage.ErrConflict
		}
		a.FirstFactorUserID, a.FirstFactorAt, a.FirstFactorBinding = userID, firstAt.UTC(), binding
		return nil
	})
	if err != nil {
		h.errorPage(w, r, http.StatusBadRequest, "Sign-in already completed", "This sign-in request was already completed. Return to the application and start again.")
		return
	}
	http.Redirect(w, r, h.route(secondFactorURL(ar.ID)), http.StatusSeeOther)
}

func secondFactorURL(authRequestID string) string {
	return PathSecondFactor + "?authRequestID=" + url.QueryEscape(authRequestID)
}

// loadSecondFactor returns a live request (of an application or of the account
// pages) whose first factor this browser passed, or shows why not. Skipping to
// the second step, or coming from another browser, ends here.
func (h *signIn) loadSecondFactor(w http.ResponseWriter, r *http.Request, id string) *storage.AuthRequest {
	refuse := func() {
		if r.Method == http.MethodPost {
			// A code posted without the first factor, for a forged or another
			// browser's request: the answer of a wrong code, so a guesser
			// learns nothing from the difference.
			h.refuseCode(w, r)
			return
		}
		h.errorPage(w, r, http.StatusForbidden, "Sign in first",
			"This step of the sign-in is not open for this browser. Return to the application (or your account page) and sign in again.")
	}
	if id == "" || len(id) > storage.MaxAuthRequestIDLen {
		refuse()
		return nil
	}
	ar, err := h.store.GetAuthRequest(r.Context(), id)
	if err != nil || ar.Expired(h.now()) || ar.Done || ar.FirstFactorUserID == "" || !h.sessions.BoundToBrowser(r, ar) {
		refuse()
		return nil
	}
	return ar
}

func (h *signIn) secondFactorPage(w http.ResponseWriter, r *http.Request) {
	ar := h.loadSecondFactor(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	h.showSecondFactor(w, r, http.StatusOK, ar, "")
}

// refuseCode answers a code form that is not for a request open in this
// browser with the wrong-code message and status, and a form that cannot be
// used again: the person starts the sign-in over.
func (h *signIn) refuseCode(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusUnauthorized, "totp", "Two-step sign-in", secondFactorData{
		Error: genericCodeError + " If it keeps happening, return to the application and sign in again.",
	})
}

func (h *signIn) showSecondFactor(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, msg string) {
	d := secondFactorData{AuthRequestID: ar.ID, FormToken: h.formToken(stepTOTP, ar.ID), Error: msg}
	if ar.ClientID != "" {
		d.ClientName = clientName(r.Context(), h.store, ar.ClientID)
	}
	h.render(w, r, status, "totp", "Two-step sign-in", d)
}

// secondFactorSubmit checks the code for the person who passed the first factor
// of this request, in this browser. Only then does the session start (or, after
// a step-up, get replaced by one that used both factors).
func (h *signIn) secondFactorSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if !h.checkFormToken(stepTOTP, id, r.PostForm.Get("csrf_token")) {
		h.refuseCode(w, r)
		return
	}
	ar := h.loadSecondFactor(w, r, id)
	if ar == nil {
		return
	}
	if h.guard.addressLocked(w, r) {
		return
	}
	ctx := r.Context()
	userID := ar.FirstFactorUserID
	_, err := h.totp.Verify(ctx, h.store, userID, r.PostForm.Get("code"))
	if errors.Is(err, totp.ErrRejected) {
		h.guard.addressFailed(ctx, h.guard.proxies.clientAddress(r))
		// The reason is logged, never the code.
		h.log.InfoContext(ctx, "second factor refused", "event", "second_factor_failed", "reason", err.Error(),
			"subject", userID, "client", ar.ClientID, "address", r.RemoteAddr)
		h.showSecondFactor(w, r, http.StatusUnauthorized, ar, genericCodeError)
		return
	}
	if err != nil {
		h.serverError(w, r, "check second factor", err) // 503 "try again" while storage is away
		return
	}
	sess, err := h.sessions.Start(ctx, w, r, userID, []string{AMRPassword, AMROTP, AMRMFA}, ACRMFA, true)
	if err != nil {
		h.serverError(w, r, "create session", err) // 503 "try again" while storage is away
		return
	}
	h.log.InfoContext(ctx, "signed in with a second factor", "event", "login", "subject", userID, "client", ar.ClientID, "acr", ACRMFA, "address", r.RemoteAddr)
	if ar.ClientID == "" {
		// The sign-in to the account pages is done with.
		h.store.DeleteAuthRequest(ctx, ar.ID)
		http.Redirect(w, r, h.route(PathAccountTOTP), http.StatusSeeOther)
		return
	}
	h.flow.complete(w, r, ar, sess)
}
