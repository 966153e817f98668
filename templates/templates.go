// Package templates holds every page Signet shows, as html/template files, and the
// static assets they use, embedded into the binary with //go:embed.
//
// It owns the issuer's markup and stylesheet, the theme overlay, and the Renderer
// that parses them once at start-up and renders a page through a buffer, among
// them the error page, which both web/ and provider/ show: so the protocol shows
// its errors itself instead of calling into the pages. Which page is rendered
// with what data is decided by the consumer (web/ for every other page). The demo
// relying party is not the issuer and keeps its own page
// (cmd/signet/internal/demorp).
package templates

import "embed"

// FS holds the page templates (*.html) and the static assets (static/*).
//
//go:embed *.html static
var FS embed.FS
