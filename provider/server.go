package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/signet-idp/signet/provider/policy"
)

// How the endpoints are served. The router is the library's (op.RegisterServer,
// with Signet's CORS allow-list and the issuer interceptor), and so is the
// authorization endpoint: it decodes and validates the request and calls
// server's Authorize, which answers with a value (the login page, or an error
// redirect that carries iss).
//
// The token, device authorization, userinfo, introspection and revocation
// endpoints are Signet's handlers on that router. The library's own handlers
// for them check things in an order and with words of their own (client
// authentication before the grant's parameters, "grant_type missing"), answer
// invalid_client with 400 unless wrapped, and cannot set a WWW-Authenticate
// header on an error; Signet's answers differ on each. So these handlers
// compute the answer as a value, using the library where its answer is
// Signet's (LegacyServer's UserInfo, Introspect and Revocation,
// op.ParseTokenRevocationRequest, op.RequestError), and write it once.

// server is Signet's op.Server: the library's LegacyServer over the op.Provider,
// with the authorization answered by Signet.
type server struct {
	*op.LegacyServer
	p *Provider
}

var _ op.Server = (*server)(nil)

// Authorize stores the validated request and sends the browser to sign in, or
// answers an invalid id_token_hint or a failed write with an error redirect to
// the client that carries iss (RFC 9207). The library has run VerifyAuthRequest
// (LegacyServer's) and its checks of the redirect URI, prompt, scopes, response
// type and PKCE method by now, after Signet's own (authorizeChecks). A request
// object never gets here (authorizeChecks refuses it).
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	userID, err := op.ValidateAuthReqIDTokenHint(ctx, r.Data.IDTokenHint, s.p.op.IDTokenHintVerifier(ctx))
	if err != nil {
		return s.p.authorizeErrorRedirect(ctx, r.Data, err)
	}
	req, err := s.p.op.Storage().CreateAuthRequest(ctx, r.Data, userID)
	if err != nil {
		return s.p.authorizeErrorRedirect(ctx, r.Data, oidc.DefaultToServerError(err, "unable to save auth request"))
	}
	return op.NewRedirect(r.Client.LoginURL(req.GetID())), nil
}

// authorizeErrorRedirect is the library's error redirect for an authorization
// request whose redirect URI is checked (op.TryErrorRedirect, the response
// parameters merged into the URI's query), with iss added (RFC 9207).
//
// iss is added only when the URL still starts with the redirect URI as sent:
// the library re-encodes a redirect URI's own query (?tenant=1) in sorted order
// with the response parameters, and such a redirect has always gone out
// without iss. Signet's own error redirects (policy.ErrorRedirectURL) append to
// the URI as registered and always carry it.
func (p *Provider) authorizeErrorRedirect(ctx context.Context, req *oidc.AuthRequest, err error) (*op.Redirect, error) {
	redirect, err := op.TryErrorRedirect(ctx, req, err, p.op.Encoder(), nil)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(redirect.URL, req.RedirectURI) {
		if u, err := url.Parse(redirect.URL); err == nil && !u.Query().Has("iss") {
			redirect.URL = policy.AppendQuery(redirect.URL, url.Values{"iss": {p.cfg.Issuer}})
		}
	}
	return redirect, nil
}

// routes builds the handler of the protocol endpoints on the library's router.
func (p *Provider) routes() http.Handler {
	s := &server{p: p, LegacyServer: op.NewLegacyServer(p.op, op.Endpoints{
		// The only endpoint the library serves itself; the others are
		// registered below (see the top of this file).
		Authorization: op.NewEndpoint(PathAuthorize),
	})}
	corsOpts := cors.Options{
		AllowOriginFunc: p.origins.allowed,
		AllowedMethods:  []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:  []string{"Authorization", "Content-Type", "Accept", "If-None-Match"},
		ExposedHeaders:  []string{"ETag", "WWW-Authenticate"},
		MaxAge:          600,
	}
	p.legacy = s.LegacyServer
	return op.RegisterServer(s, s.Endpoints(),
		op.WithDecoder(p.op.Decoder()),
		op.WithEncoder(p.op.Encoder()),
		// Never the library's default CORS, which allows any origin.
		op.WithServerCORSOptions(&corsOpts),
		op.WithHTTPMiddleware(
			op.NewIssuerInterceptor(p.op.IssuerFromRequest).Handler,
			httpRules,
			p.servedDocs,
			p.authorizeChecks,
		),
		op.WithSetRouter(func(r chi.Router) {
			r.HandleFunc(PathCallback, p.callback)
			r.HandleFunc(PathToken, p.tokens.token)
			r.HandleFunc(PathDeviceAuthorization, p.deviceAuthorization)
			r.HandleFunc(PathUserinfo, p.userinfo)
			r.HandleFunc(PathIntrospect, p.introspect)
			r.HandleFunc(PathRevoke, p.revoke)
		}),
	)
}

// maxRequestBody bounds every request body the protocol endpoints read; the
// authorization endpoint sets a tighter limit of its own.
const maxRequestBody = 64 << 10

// endpointMethods are the methods each protocol endpoint answers; HEAD goes
// with GET, as net/http's ServeMux has it.
var endpointMethods = map[string][]string{
	PathDiscovery:           {http.MethodGet, http.MethodHead},
	PathJWKS:                {http.MethodGet, http.MethodHead},
	PathAuthorize:           {http.MethodGet, http.MethodHead, http.MethodPost},
	PathCallback:            {http.MethodGet, http.MethodHead},
	PathToken:               {http.MethodPost},
	PathDeviceAuthorization: {http.MethodPost},
	PathUserinfo:            {http.MethodGet, http.MethodHead, http.MethodPost},
	PathIntrospect:          {http.MethodPost},
	PathRevoke:              {http.MethodPost},
}

// noStoreEndpoints answer with tokens or about them: never cached.
var noStoreEndpoints = []string{PathToken, PathDeviceAuthorization, PathUserinfo, PathIntrospect, PathRevoke}

// httpRules are the rules of the HTTP layer that the library's router does not
// have (it routes every method of a path to its handler, and also serves
// health and readiness routes of its own): only the protocol endpoints are
// answered (404 otherwise), each with its methods (405 with Allow otherwise);
// HEAD is refused where a GET changes state (the authorization endpoint creates
// a sign-in, its callback completes one); every body is bounded; and responses
// with or about tokens carry Cache-Control: no-store.
func httpRules(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Path
		methods, ok := endpointMethods[path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodHead && (path == PathAuthorize || path == PathCallback) {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ", "))
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
		}
		if slices.Contains(noStoreEndpoints, path) {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		if r.URL.RawPath != "" {
			// The router matches the escaped path; the path is one of ours
			// however it was spelled.
			r2 := *r
			u := *r.URL
			u.RawPath = ""
			r2.URL = &u
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}

// servedDocs serves the discovery document and the JWKS from memory, with a
// strong ETag (If-None-Match answered 304) and a bounded max-age. The library's
// router always registers a discovery route of its own, which answers the
// library's document with neither.
func (p *Provider) servedDocs(next http.Handler) http.Handler {
	maxAge := fmt.Sprintf("public, max-age=%d", int(p.cfg.JWKSMaxAge/time.Second))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var doc *atomic.Pointer[servedDoc]
		switch r.URL.Path {
		case PathDiscovery:
			doc = &p.discovery
		case PathJWKS:
			doc = &p.jwks
		default:
			next.ServeHTTP(w, r)
			return
		}
		d := doc.Load()
		h := w.Header()
		h.Set("Cache-Control", maxAge)
		h.Set("ETag", d.etag)
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, d.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		w.Write(d.body)
	})
}

// writeOAuthError answers err as op.RequestError does (RFC 6749, section 5.2:
// 400; 401 for invalid_client; 500 for server_error), or with the status of an
// op.StatusError the library chose, with challenge as the WWW-Authenticate
// header of an invalid_client.
func writeOAuthError(w http.ResponseWriter, r *http.Request, err error, challenge string) {
	var e *oidc.Error
	if challenge != "" && errors.As(err, &e) && e.ErrorType == oidc.InvalidClient {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	var withStatus op.StatusError
	if errors.As(err, &withStatus) {
		op.WriteError(w, r, err, nil)
		return
	}
	op.RequestError(w, r, err, nil)
}

// writeResponse writes a response of the library's (an op.Response) as the
// library's own handlers do: its headers, then its data as JSON.
func writeResponse(w http.ResponseWriter, resp *op.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	httphelper.MarshalJSON(w, resp.Data)
}

// Challenges of the 401 answers (RFC 6750, section 3; RFC 6749, section 5.2).
const (
	basicChallenge  = `Basic realm="signet"`
	bearerChallenge = `Bearer realm="signet", error="invalid_token"`
)

// storageDown reports whether storage fails to answer a ping (nil when it
// answers, or when there is no ping). A negative answer about a token is sent
// only after it: the library turns any storage error into "invalid token" or
// {"active": false}, and a resource server would then drop a session that is
// fine; a 503 (writeUnavailable) tells it to try again.
func (p *Provider) storageDown(ctx context.Context) error {
	if p.cfg.Ping == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.cfg.Ping(ctx)
}
