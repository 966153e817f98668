package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// Input bounds of the authorization endpoint.
const (
	maxAuthorizeQuery = 8 << 10
	maxAuthorizeBody  = 16 << 10
)

// authorizeChecks runs Signet's checks of an authorization request before the
// library's handler decodes it: until the client and its exact redirect URI are
// known, errors are shown on a page (the library would answer JSON or bare
// text) and never redirected; after that they go back to the client (RFC 6749,
// section 4.1.2.1) with iss. Then the library's checks that could still refuse
// the request run here too, so that their answers stay what they are (bare
// text for a redirect URI, an error redirect with iss for prompt). What passes
// goes on to the library's authorization handler and server.Authorize.
func (p *Provider) authorizeChecks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathAuthorize {
			next.ServeHTTP(w, r)
			return
		}
		p.checkAuthorize(w, r, next)
	})
}

func (p *Provider) checkAuthorize(w http.ResponseWriter, r *http.Request, next http.Handler) {
	if len(r.URL.RawQuery) > maxAuthorizeQuery {
		p.errorPage(w, r, http.StatusRequestURITooLong, "Request too long", "The sign-in request is larger than Signet accepts.")
		return
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxAuthorizeBody)
	}
	if err := r.ParseForm(); err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "Malformed sign-in request", "The sign-in request could not be read.")
		return
	}
	badUTF8 := false
	for k, v := range r.Form {
		if len(v) > 1 && k != "prompt" {
			p.errorPage(w, r, http.StatusBadRequest, "Malformed sign-in request", "The parameter "+truncate(k, 40)+" is given more than once.")
			return
		}
		for _, s := range v {
			badUTF8 = badUTF8 || !utf8.ValidString(k) || !utf8.ValidString(s)
		}
	}
	ctx := r.Context()
	clientID := r.Form.Get("client_id")
	redirectURI := r.Form.Get("redirect_uri")
	if clientID == "" || len(clientID) > 128 {
		p.errorPage(w, r, http.StatusBadRequest, "Unknown application", "The sign-in request does not name a valid application (client_id).")
		return
	}
	c, err := p.store.GetClient(ctx, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		p.errorPage(w, r, http.StatusBadRequest, "Unknown application", "No application with this client_id is registered with Signet.")
		return
	}
	if errors.Is(err, storage.ErrUnavailable) {
		w.Header().Set("Retry-After", "5")
		p.errorPage(w, r, http.StatusServiceUnavailable, "Try again in a moment", "Signet cannot reach its storage just now. Please try again in a few seconds.")
		return
	}
	if err != nil {
		p.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not look up the application. Please try again.")
		return
	}
	if redirectURI == "" || !policy.RedirectRegistered(c.RedirectURIs, c.Public, redirectURI) {
		p.errorPage(w, r, http.StatusBadRequest, "Unregistered redirect address",
			"The application asked to return you to an address it has not registered with Signet, so Signet will not send you there.")
		return
	}
	state := r.Form.Get("state")
	fail := func(e *oidc.Error) { p.redirectError(w, r, redirectURI, state, e) }
	if badUTF8 {
		// Stored and signed values are UTF-8 JSON: a state or nonce that is not
		// could not come back unchanged. The error returns state as sent.
		fail(oidc.ErrInvalidRequest().WithDescription("parameters must be UTF-8"))
		return
	}
	if rt := r.Form.Get("response_type"); rt != string(oidc.ResponseTypeCode) {
		if rt == "" {
			fail(oidc.ErrInvalidRequest().WithDescription("response_type is missing"))
		} else {
			fail(&oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"})
		}
		return
	}
	if rm := r.Form.Get("response_mode"); rm != "" && rm != string(oidc.ResponseModeQuery) {
		fail(oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported"))
		return
	}
	if r.Form.Has("request") {
		fail(oidc.ErrRequestNotSupported().WithDescription("request objects are not supported"))
		return
	}
	if r.Form.Has("request_uri") {
		fail(&oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"})
		return
	}
	challenge, method := r.Form.Get("code_challenge"), r.Form.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		fail(oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge"))
		return
	case challenge != "" && method != string(oidc.CodeChallengeMethodS256):
		fail(oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256"))
		return
	case challenge != "" && (len(challenge) < 43 || len(challenge) > 128):
		fail(oidc.ErrInvalidRequest().WithDescription("code_challenge must be 43 to 128 characters"))
		return
	case challenge == "" && c.Public:
		fail(oidc.ErrInvalidRequest().WithDescription("PKCE (code_challenge with S256) is required for public clients"))
		return
	}
	for _, k := range []string{"state", "nonce", "login_hint", "scope", "acr_values", "ui_locales", "max_age", "prompt"} {
		if len(r.Form.Get(k)) > 2048 {
			fail(oidc.ErrInvalidRequest().WithDescription("%s is too long", k))
			return
		}
	}
	// One API per access token (RFC 8707): a resource Signet does not know,
	// or scopes of two APIs without a resource to pick one, are invalid_target.
	// A plain OAuth request (no openid) is fine when it asks for an API.
	resource := r.Form.Get("resource")
	api, _, err := p.apis.apiFor(ctx, strings.Fields(r.Form.Get("scope")), resource)
	if err != nil {
		var oe *oidc.Error
		if !errors.As(err, &oe) {
			oe = oidc.ErrServerError()
		}
		fail(oe)
		return
	}
	if !slices.Contains(strings.Fields(r.Form.Get("scope")), oidc.ScopeOpenID) && api == nil {
		fail(oidc.ErrInvalidScope().WithDescription("the openid scope is required, or a scope of an API"))
		return
	}
	r = r.WithContext(context.WithValue(ctx, resourceKey{}, resource))
	ctx = r.Context()
	if v := r.Form.Get("max_age"); v != "" {
		if n, err := strconv.ParseUint(v, 10, 32); err != nil || strconv.FormatUint(n, 10) != v {
			fail(oidc.ErrInvalidRequest().WithDescription("max_age must be a whole number of seconds"))
			return
		}
	}
	// The library answers a parameter it cannot decode with JSON; decode it
	// here first so that the client gets an OAuth error instead.
	authReq, err := op.ParseAuthorizeRequest(r, p.op.Decoder())
	if err != nil {
		fail(oidc.ErrInvalidRequest().WithDescription("a parameter of the request has an invalid value"))
		return
	}
	// The library's own rules for the redirect URI (http and custom schemes by
	// client type) answer in bare text, never to the client.
	if err := op.ValidateAuthReqRedirectURI(&client{c: c, p: p}, authReq.RedirectURI, authReq.ResponseType); err != nil {
		http.Error(w, oidc.DefaultToServerError(err, err.Error()).Description, http.StatusBadRequest)
		return
	}
	// prompt=none beside another value: the library's words, with iss.
	if _, err := op.ValidateAuthReqPrompt(authReq.Prompt, authReq.MaxAge); err != nil {
		redirect, err := p.authorizeErrorRedirect(ctx, authReq, err)
		if err != nil {
			http.Error(w, oidc.DefaultToServerError(err, err.Error()).Description, http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, redirect.URL, http.StatusFound)
		return
	}
	next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), checkedClientKey{}, c)))
}

// checkedClientKey carries the client authorizeChecks found to
// server.VerifyAuthRequest.
type checkedClientKey struct{}

// VerifyAuthRequest names the client authorizeChecks found and checked the
// redirect URI against, rather than reading it again.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	c, ok := ctx.Value(checkedClientKey{}).(*storage.Client)
	if !ok || c.ID != r.Data.ClientID {
		return s.LegacyServer.VerifyAuthRequest(ctx, r)
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: &client{c: c, p: s.p}}, nil
}

// redirectError sends an OAuth error to a redirect URI already checked against the
// client's registration, with the issuer (RFC 9207).
func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e *oidc.Error) {
	http.Redirect(w, r, policy.ErrorRedirectURL(p.cfg.Issuer, redirectURI, state, string(e.ErrorType), e.Description), http.StatusFound)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// callback runs after the login UI marked the request done: it issues a single-use
// code (stored only as its hash) and returns the browser to the client.
func (p *Provider) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("id")
	expired := func() {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in expired",
			"This sign-in request is unknown or has expired. Return to the application and start again.")
	}
	if id == "" || len(id) > storage.MaxAuthRequestIDLen {
		expired()
		return
	}
	ar, err := p.store.GetAuthRequest(ctx, id)
	if err != nil || ar.Expired(p.now()) {
		expired()
		return
	}
	if !ar.Done {
		p.errorPage(w, r, http.StatusBadRequest, "Sign-in not finished", "Sign in first, then you will be returned to the application.")
		return
	}
	if p.cfg.Sessions != nil && (ar.SessionSID == "" || p.cfg.Sessions.SID(r) != ar.SessionSID) {
		p.errorPage(w, r, http.StatusForbidden, "Request refused",
			"This sign-in was completed in another browser. Return to the application and start again.")
		return
	}
	code := randomID(32)
	now := p.now().UTC()
	if err := p.store.IssueCode(ctx, id, hashSecret(code), now.Add(p.cfg.Lifetimes.AuthorizationCode)); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			p.errorPage(w, r, http.StatusBadRequest, "Sign-in already completed",
				"This sign-in request was already completed. Return to the application and start again.")
			return
		}
		p.errorPage(w, r, http.StatusInternalServerError, "Something went wrong", "Signet could not complete the sign-in. Please try again.")
		return
	}
	v := url.Values{}
	v.Set("code", code)
	if ar.State != "" {
		v.Set("state", ar.State)
	}
	v.Set("iss", p.cfg.Issuer)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, policy.AppendQuery(ar.RedirectURI, v), http.StatusFound)
}

// resourceKey carries the authorization request's resource parameter to
// CreateAuthRequest, which the library calls with its own parsed request (that
// has no resource).
type resourceKey struct{}
