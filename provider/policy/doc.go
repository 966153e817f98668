// Package policy holds the rules that registration (cmd/signet/internal/admin),
// the protocol endpoints (provider) and the command (cmd/signet) must apply alike, so that
// what one accepts the others treat the same way: which hosts count as loopback
// (RFC 8252, sections 7.3 and 8.3), the built-in scopes with the claims they
// release, and the redirects both the provider and the pages (web/) build: the
// callback URL, an error returned to a client with iss, and the post-logout
// redirect matching.
//
// It owns no state and does no I/O; it imports nothing of ours.
package policy
