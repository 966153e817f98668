// Package policy holds the rules that registration (cmd/signet/internal/admin),
// the protocol endpoints (provider), the pages (web/) and the command
// (cmd/signet) must apply alike, so that what one accepts the others treat the
// same way, each written once:
//
//   - which hosts count as loopback (IsLoopbackHost; RFC 8252, sections 7.3
//     and 8.3), for redirect URIs, jwks_uri, the issuer and SIGNET_PPROF;
//   - redirect URIs: what registration accepts (CheckRedirectURI) and how the
//     authorization endpoint matches a presented one (RedirectRegistered), the
//     callback URL, an error returned to a client with iss, and the
//     post-logout redirect;
//   - the built-in scopes, the claims a scope may release (ReleasableClaims,
//     SupportedClaims) and which scopes a limited client may ask for
//     (ClientMayAsk);
//   - who the client is behind trusted proxies (ClientAddress), for the
//     access log and the sign-in throttles;
//   - the grant types a client may be registered for, group limits on sign-in,
//     device user codes, and private_key_jwt client keys.
//
// It owns no state and does no I/O; it imports nothing of ours.
package policy
