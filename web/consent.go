package web

import (
	"net/http"
	"net/url"

	"github.com/signet-idp/signet/storage"
)

// consentPages serves an application's approval page: the scopes the person
// must still decide on, and the Allow or Deny that goes on to the provider's
// callback or back to the application with access_denied.
type consentPages struct {
	*base
	flow   *flow
	rules  *scopeRules
	grants storage.Grants
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

func (h *consentPages) consentPage(w http.ResponseWriter, r *http.Request) {
	ar, _, user, c, g := h.flow.approvalState(w, r, r.URL.Query().Get("authRequestID"))
	if ar == nil {
		return
	}
	h.showConsent(w, r, http.StatusOK, ar, user, c, g, "")
}

func (h *consentPages) showConsent(w http.ResponseWriter, r *http.Request, status int, ar *storage.AuthRequest, user *storage.User, c *storage.Client, g *storage.Grant, msg string) {
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
	var held []string
	if g != nil {
		held = g.Scopes
	}
	d.Ask, d.Already = h.rules.approvalLists(r.Context(), ar.Scopes, h.rules.toAsk(ar, c, g), held)
	h.render(w, r, status, "consent", "Allow access?", d)
}

// consentSubmit records the person's decision. Allow grants the required scopes
// and the ticked optional ones and remembers the rest as declined; deny returns
// access_denied to the application. Anything unexpected writes nothing.
func (h *consentPages) consentSubmit(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	id := r.PostForm.Get("auth_request_id")
	if !h.formValid(w, r, "consent", id, "This form is not valid for this sign-in request. Return to the application and start again.") {
		return
	}
	ar, sess, user, c, g := h.flow.approvalState(w, r, id)
	if ar == nil {
		return
	}
	ctx := r.Context()
	ask := h.rules.toAsk(ar, c, g)
	a, retry, ok := h.readApproval(w, r, ask, len(ar.Scopes), "application")
	if !ok {
		return
	}
	if retry != "" {
		h.showConsent(w, r, http.StatusBadRequest, ar, user, c, g, retry)
		return
	}
	if !a.allow {
		h.log.InfoContext(ctx, "consent denied", "event", "consent_denied", "subject", user.ID, "client", c.ID)
		h.flow.redirectError(w, r, ar, "access_denied", "the user denied the request")
		return
	}
	next, err := h.rules.recordGrant(ctx, h.grants, user.ID, c.ID, ask, a.ticked, h.now().UTC())
	if err != nil {
		h.serverError(w, r, "store grant", err)
		return
	}
	h.log.InfoContext(ctx, "consent granted", "event", "consent", "subject", user.ID, "client", c.ID, "scopes", next.Scopes)
	h.flow.finish(w, r, ar, sess, h.rules.granted(ar, c, next))
}
