// Package templates holds every page Signet shows, as html/template files, and the
// static assets they use, embedded into the binary with //go:embed.
//
// It owns the issuer's markup and stylesheet only; which page is rendered with what
// data is decided in web/. The demo relying party is not the issuer and keeps its
// own page (cmd/signet/internal/demorp). Pages are parsed once at start-up by their
// consumer, never per request.
package templates

import "embed"

// FS holds the page templates (*.html) and the static assets (static/*).
//
//go:embed *.html static
var FS embed.FS
