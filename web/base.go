package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/templates"
)

// base is what every area's handler is built on, and all of it is used by
// each: the renderer, the form tokens and the form reading, the issuer's
// path, the clock and the log.
type base struct {
	pages *templates.Renderer
	// formKey keys the HMACs that bind each form to what it acts on.
	formKey  [32]byte
	basePath string
	now      func() time.Time
	log      *slog.Logger
}

// route returns the URL path of a page or endpoint of this server (p is a Path
// constant, with or without a query): p under the issuer's path.
func (b *base) route(p string) string { return b.basePath + p }

// render renders a page (templates.Renderer.Render).
func (b *base) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	b.pages.Render(w, r, status, name, title, data)
}

// errorPage shows an error that must not be redirected anywhere.
func (b *base) errorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	b.pages.ErrorPage(w, r, status, title, message)
}

// serverError answers a step that failed on Signet's side: 503 and "try again"
// while storage is away, 500 otherwise. The cause goes to the log, never to the
// page.
func (b *base) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, storage.ErrUnavailable) {
		b.log.WarnContext(r.Context(), what, "event", "storage_unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		b.errorPage(w, r, http.StatusServiceUnavailable, "Try again in a moment", "Signet cannot reach its storage just now. Please try again in a few seconds.")
		return
	}
	b.log.ErrorContext(r.Context(), what, "error", err)
	b.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not complete this step. Please try again.")
}

// formToken binds a form to one auth request and one step, so a post for another
// request or step fails.
func (b *base) formToken(step, authRequestID string) string {
	m := hmac.New(sha256.New, b.formKey[:])
	m.Write([]byte("signet/form\x00" + step + "\x00" + authRequestID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (b *base) checkFormToken(step, authRequestID, token string) bool {
	return hmac.Equal([]byte(b.formToken(step, authRequestID)), []byte(token))
}

// readForm bounds and parses a POSTed form, answering one that cannot be read
// itself; it reports whether the handler goes on.
func (b *base) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		b.errorPage(w, r, http.StatusBadRequest, "Malformed form", "The form could not be read.")
		return false
	}
	return true
}

// formValid checks the form's csrf_token for step and binding, answering a
// refusal (403, saying why) itself; it reports whether the handler goes on.
func (b *base) formValid(w http.ResponseWriter, r *http.Request, step, binding, why string) bool {
	if b.checkFormToken(step, binding, r.PostForm.Get("csrf_token")) {
		return true
	}
	b.errorPage(w, r, http.StatusForbidden, "Request refused", why)
	return false
}

// approval is a person's answer on an approval page: allow, with the optional
// scopes left ticked, or deny.
type approval struct {
	allow  bool
	ticked []string
}

// readApproval reads an approval form (its "scope" boxes and "decision"
// button) that asked ask of the requested scopes. A form carrying more scopes
// than could have been asked is answered here (ok false). One that names a
// scope not in ask, or no decision, gives retry: the message to show with the
// page again, nothing approved. asker says who asked ("application", "device").
func (b *base) readApproval(w http.ResponseWriter, r *http.Request, ask []string, requested int, asker string) (a approval, retry string, ok bool) {
	ticked := r.PostForm["scope"]
	if len(ticked) > requested+8 {
		b.errorPage(w, r, http.StatusBadRequest, "Malformed form", "The form carries more scopes than were requested.")
		return approval{}, "", false
	}
	for _, s := range ticked {
		if !slices.Contains(ask, s) {
			return approval{}, "The form named a permission this " + asker + " did not ask for. Nothing was approved; choose again.", true
		}
	}
	switch r.PostForm.Get("decision") {
	case "deny":
		return approval{}, "", true
	case "allow":
		return approval{allow: true, ticked: ticked}, "", true
	}
	return approval{}, "Choose Allow or Deny.", true
}

// clientName is a client's display name, or its id when it has none or cannot
// be read.
func clientName(ctx context.Context, clients storage.Clients, id string) string {
	if c, err := clients.GetClient(ctx, id); err == nil && c.Name != "" {
		return c.Name
	}
	return id
}
