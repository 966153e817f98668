// Package demorp is the demo relying party that `signet serve --demo` starts on a
// second loopback port, so that it is a separate origin from the issuer.
//
// It plays a third-party web site and runs the real OpenID Connect flow over HTTP:
// discovery of the issuer, the authorization code flow with PKCE (S256), state and
// nonce, the code exchange with client_secret_basic, verification of the ID token
// against the issuer's JWKS (signature, iss, aud, exp, nonce), verification of the
// access token when it is a JWT (RFC 9068, typ "at+jwt"), the userinfo request and
// the refresh token grant. It then shows what it verified.
//
// The package owns its routes, its per-browser sessions (in memory, bounded), the
// decisions of what to show, and its markup and stylesheet (demo.html and demo.css,
// embedded here, apart from the issuer's templates). It does not own the issuer,
// its clients or its keys: it knows Signet only through the issuer URL and the
// client credentials it is given, exactly as any other relying party would.
//
// Sign-out is RP-initiated logout: the demo forgets the browser's tokens and
// sends it to the issuer's end_session_endpoint with id_token_hint, client_id,
// post_logout_redirect_uri and a state it checks on return (local sign-out only
// when the issuer advertises no such endpoint). The issuer in turn tells the
// demo when a session ends elsewhere, by back-channel logout: a signed logout
// token POSTed server to server to /backchannel-logout, validated as OpenID
// Connect Back-Channel Logout 1.0 section 2.6 requires, after which the
// sessions it names are signed out and say so.
package demorp
