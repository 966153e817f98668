package main

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// An issuer with a path (https://example.com/auth) is served under that path:
// the reverse proxy passes the full path through, as Keycloak's
// --http-relative-path and Dex's issuer path expect, and Signet answers
// /auth/.well-known/openid-configuration, /auth/login, /auth/static/... and
// nothing outside /auth. The path is fixed by configuration, never taken from
// request headers (X-Forwarded-Prefix and the like are ignored), for the same
// reason the issuer is.
//
// Inside, every route is registered as for an issuer without a path; mountAt
// strips the path on the way in, and the provider and the pages put it in
// front of every URL they send a browser to (Config.BasePath).

// issuerBasePath returns the path of the issuer URL without a trailing slash:
// "" for https://example.com, "/auth" for https://example.com/auth.
func issuerBasePath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

// issuerPathProblem returns what is wrong with the path of an issuer URL, or
// "". The path is put in front of every link, form action, cookie path and
// route, so it is kept to plain segments that read the same escaped or not.
func issuerPathProblem(issuer string, u *url.URL) string {
	if u.Path == "" {
		return ""
	}
	if u.RawPath != "" {
		return fmt.Sprintf("%q: the path must not be percent-encoded", issuer)
	}
	for _, seg := range strings.Split(strings.TrimPrefix(u.Path, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." || strings.IndexFunc(seg, notPathChar) >= 0 {
			return fmt.Sprintf("%q: each segment of the path must be letters, digits, '-', '_', '.' or '~' (not empty, '.' or '..')", issuer)
		}
	}
	return ""
}

func notPathChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.~", r))
}

// mountAt serves mux under basePath ("" serves mux as it is, byte for byte).
// A request for basePath+"/x" reaches mux as "/x"; one outside basePath gets
// notFound. The outer mux cleans the path first (so ".." cannot step out) and
// redirects basePath to basePath+"/".
//
// Two things a plain http.StripPrefix would lose are kept: the inner route
// pattern goes back onto the request (the access metrics count by it, the same
// names with or without a path), and a redirect the inner mux makes itself
// (say /static to /static/) points under basePath, not at the host's root.
func mountAt(basePath string, mux *http.ServeMux, notFound http.HandlerFunc) http.Handler {
	if basePath == "" {
		return mux
	}
	outer := http.NewServeMux()
	outer.Handle(basePath+"/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner, ok := stripBasePath(r, basePath)
		if !ok {
			notFound(w, r)
			return
		}
		if h, _ := mux.Handler(inner); reflect.TypeOf(h) == redirectHandlerType {
			// The mux redirects (/static to /static/) with a RedirectHandler
			// to a path of its own, which knows nothing of basePath.
			w = &redirectUnder{ResponseWriter: w, basePath: basePath}
		}
		mux.ServeHTTP(w, inner)
		r.Pattern = inner.Pattern
	}))
	outer.HandleFunc("/", notFound)
	return outer
}

// redirectHandlerType is the type of the handlers ServeMux.Handler returns for
// the redirects the mux makes itself.
var redirectHandlerType = reflect.TypeOf(http.RedirectHandler("/", http.StatusTemporaryRedirect))

// stripBasePath returns a shallow copy of r whose URL path lacks basePath, as
// http.StripPrefix makes it; false when the escaped path does not start with
// basePath either.
func stripBasePath(r *http.Request, basePath string) (*http.Request, bool) {
	p := strings.TrimPrefix(r.URL.Path, basePath)
	rp := strings.TrimPrefix(r.URL.RawPath, basePath)
	if len(p) == len(r.URL.Path) || (r.URL.RawPath != "" && len(rp) == len(r.URL.RawPath)) {
		return nil, false
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path, r2.URL.RawPath = p, rp
	return r2, true
}

// redirectUnder puts basePath in front of a Location that names a path on
// this server.
type redirectUnder struct {
	http.ResponseWriter
	basePath string
}

func (w *redirectUnder) WriteHeader(status int) {
	h := w.Header()
	if loc := h.Get("Location"); strings.HasPrefix(loc, "/") && !strings.HasPrefix(loc, "//") {
		h.Set("Location", w.basePath+loc)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *redirectUnder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
