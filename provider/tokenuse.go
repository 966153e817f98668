package provider

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/storage"
)

// The endpoints where a token is presented: userinfo, introspection and
// revocation. Each computes its answer as a value, with the library's
// LegacyServer deciding where its decision is Signet's, and writes it once. A
// negative answer waits for storage to answer a ping (storageDown): a storage
// outage must not pass for a verdict on a token.
//
// Each records the presented token in the request's context for the JWT checks
// (jwtaccess.go), read exactly where the library reads it; a token named twice
// is refused (RFC 6749, section 3.1: the library's decoder takes the last
// value, net/http the first).

// bearerRefusal is how userinfo refuses a request (RFC 6750, section 3.1): its
// status, WWW-Authenticate challenge and error.
type bearerRefusal struct {
	status    int
	challenge string
	err       *oidc.Error
}

func (b *bearerRefusal) Error() string { return b.err.Error() }

func (b *bearerRefusal) write(w http.ResponseWriter) {
	body, _ := json.Marshal(b.err)
	h := w.Header()
	h.Set("WWW-Authenticate", b.challenge)
	h.Set("Content-Type", "application/json")
	w.WriteHeader(b.status)
	w.Write(body)
}

var (
	// errTokenInQuery: an access token in the query string ends up in logs
	// and Referer headers (RFC 9700, section 2.4; RFC 6750, section 2.3).
	errTokenInQuery = &bearerRefusal{
		status: http.StatusBadRequest, challenge: `Bearer realm="signet", error="invalid_request"`,
		err: oidc.ErrInvalidRequest().WithDescription("send the access token in the Authorization header, not the query string"),
	}
	// errInvalidToken answers every token userinfo does not take: 401, not
	// the library's 403 (RFC 6750, section 3.1).
	errInvalidToken = &bearerRefusal{
		status: http.StatusUnauthorized, challenge: `Bearer realm="signet", error="invalid_token", error_description="the access token is invalid, expired or revoked"`,
		err: &oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"},
	}
)

// singleFormValue returns the form value name, or invalid_request when the form
// cannot be read or names it more than once.
func singleFormValue(r *http.Request, name string) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", oidc.ErrInvalidRequest().WithDescription("malformed or oversized request body")
	}
	if len(r.Form[name]) > 1 {
		return "", oidc.ErrInvalidRequest().WithDescription("%s must be sent once", name)
	}
	return r.Form.Get(name), nil
}

// userinfo serves the UserInfo endpoint (OpenID Connect Core, section 5.3).
func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	resp, err := p.userinfoAnswer(r)
	if err == nil {
		writeResponse(w, resp)
		return
	}
	if down := p.storageDown(r.Context()); down != nil {
		writeUnavailable(p.log, w, r, down)
		return
	}
	var refusal *bearerRefusal
	if errors.As(err, &refusal) {
		refusal.write(w)
		return
	}
	writeOAuthError(w, r, err, "")
}

func (p *Provider) userinfoAnswer(r *http.Request) (*op.Response, error) {
	if r.URL.Query().Has("access_token") {
		return nil, errTokenInQuery
	}
	auth := r.Header.Get("Authorization")
	if len(auth) < len(oidc.PrefixBearer) || !strings.EqualFold(auth[:len(oidc.PrefixBearer)], oidc.PrefixBearer) {
		// No bearer header: the library reads the form's access_token.
		if _, err := singleFormValue(r, "access_token"); err != nil {
			return nil, err
		}
	}
	token, err := op.ParseUserinfoRequest(r, p.op.Decoder())
	if err != nil {
		return nil, errInvalidToken
	}
	ctx := withPresentedTokenCtx(r.Context(), token)
	resp, err := p.legacy.UserInfo(ctx, &op.Request[oidc.UserInfoRequest]{
		Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, PostForm: r.PostForm,
		Data: &oidc.UserInfoRequest{AccessToken: token},
	})
	if err != nil {
		return nil, errInvalidToken
	}
	return resp, nil
}

// introspect serves RFC 7662 introspection. A client authenticates with HTTP
// Basic or an assertion (clientauth.go), an API with its audience and
// introspection secret in HTTP Basic; Signet authenticates every one of them
// itself: the library answers a failed client authentication with bare text,
// where RFC 7662 section 2.3 wants the OAuth error JSON of RFC 6749 section
// 5.2.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	resp, challenge, err := p.introspection(r)
	if err == nil && resp.Active {
		writeResponse(w, op.NewResponse(resp))
		return
	}
	if down := p.storageDown(r.Context()); down != nil {
		writeUnavailable(p.log, w, r, down)
		return
	}
	if err != nil {
		writeOAuthError(w, r, err, challenge)
		return
	}
	writeResponse(w, op.NewResponse(resp))
}

// introspection is the answer to an introspection request, or the error and the
// challenge its 401 carries.
func (p *Provider) introspection(r *http.Request) (resp *oidc.IntrospectionResponse, challenge string, err error) {
	token, err := singleFormValue(r, "token")
	if err != nil {
		return nil, "", err
	}
	ctx := withPresentedTokenCtx(r.Context(), token)
	r = r.WithContext(ctx)
	if hasClientAssertion(r) {
		resp, err := p.introspectAsserted(r)
		return resp, bearerChallenge, err
	}
	// An API introspects the tokens meant for it with its own secret.
	if resp, isAPI, err := p.introspectAsAPI(r); isAPI {
		return resp, basicChallenge, err
	}
	clientID, ok, err := op.ClientIDFromRequest(r, p.op)
	if err != nil || !ok {
		return nil, basicChallenge, oidc.ErrInvalidClient().WithDescription("introspection needs a confidential client's credentials (client_secret_basic)")
	}
	// Whatever token_type_hint says, every kind is looked up (RFC 7662,
	// section 2.1); a refresh token is one keyed read.
	if resp, ok := p.tokens.introspectRefresh(ctx, clientID, r.PostForm.Get("token")); ok {
		return resp, "", nil
	}
	// An access token: the library's answer, for the client that
	// authenticated (with HTTP Basic: ClientIDFromRequest).
	id, secret, _ := r.BasicAuth()
	id, _ = url.QueryUnescape(id)
	secret, _ = url.QueryUnescape(secret)
	req := new(oidc.IntrospectionRequest)
	if err := p.op.Decoder().Decode(req, r.Form); err != nil {
		return nil, bearerChallenge, oidc.ErrInvalidRequest().WithDescription("unable to parse request").WithParent(err)
	}
	answer, err := p.legacy.Introspect(ctx, &op.Request[op.IntrospectionRequest]{
		Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, PostForm: r.PostForm,
		Data: &op.IntrospectionRequest{ClientCredentials: &op.ClientCredentials{ClientID: id, ClientSecret: secret}, IntrospectionRequest: req},
	})
	if err != nil {
		return nil, bearerChallenge, err
	}
	return answer.Data.(*oidc.IntrospectionResponse), "", nil
}

// revoke serves RFC 7009 revocation. Every answer waits for storage to answer a
// ping, a 200 too: it also stands for "unknown token, nothing to do", which a
// storage error can produce, and a client that believes its token revoked when
// it is not is worse than one told to try again.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	resp, err := p.revocation(r)
	if down := p.storageDown(r.Context()); down != nil {
		writeUnavailable(p.log, w, r, down)
		return
	}
	var oauthErr *oidc.Error
	switch {
	case err != nil && !errors.As(err, &oauthErr):
		// Storage could not say whether the token is the client's
		// (revokeAsserted).
		writeUnavailable(p.log, w, r, err)
	case err != nil:
		writeOAuthError(w, r, err, bearerChallenge)
	case resp == nil:
		w.WriteHeader(http.StatusOK)
	default:
		writeResponse(w, resp)
	}
}

// revocation is the answer to a revocation request: the library's (a client
// that authenticates with a secret, or a public one with its client_id), or
// Signet's for a client that authenticates with an assertion (nil response: a
// bare 200).
func (p *Provider) revocation(r *http.Request) (*op.Response, error) {
	token, err := singleFormValue(r, "token")
	if err != nil {
		return nil, err
	}
	r = r.WithContext(withPresentedTokenCtx(r.Context(), token))
	if hasClientAssertion(r) {
		return nil, p.revokeAsserted(r)
	}
	token, hint, clientID, err := op.ParseTokenRevocationRequest(r, p.op)
	if err != nil {
		return nil, op.RevocationError(err)
	}
	// Revocation needs the client's id only.
	return p.legacy.Revocation(r.Context(), &op.ClientRequest[oidc.RevocationRequest]{
		Request: &op.Request[oidc.RevocationRequest]{
			Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, PostForm: r.PostForm,
			Data: &oidc.RevocationRequest{Token: token, TokenTypeHint: hint},
		},
		Client: &client{c: &storage.Client{ID: clientID}, p: p},
	})
}
