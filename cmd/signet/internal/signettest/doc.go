// Package signettest is the shared test harness of cmd/signet: what a test needs
// to drive an issuer from the outside, written once.
//
// It owns:
//   - issuer start-up on a loopback listener (Start), with a fake clock
//     (storagetest/clocktest) and a context that carries the test server's
//     HTTP client; the caller passes in the wiring, so that package main's
//     unexported server stays where it is;
//   - the signet binary, built once per test run (Binary), and the TestMain
//     that cleans it up and stops the throwaway PostgreSQL cluster (Main; the
//     database itself comes from storage/postgres/pgtest);
//   - a relying party built from go-oidc and x/oauth2 (RP): the code flow with
//     PKCE, refresh, userinfo, introspection;
//   - an HTTP-level browser (Browser: a cookie jar that submits forms as a
//     browser would) and a real headless Chromium (Chrome), one browser
//     process shared by every test, each test in a browser context of its own;
//   - an attacker's site on another origin (StartAttacker).
//
// It does not own what only Signet's wiring knows (its config, its admin
// service, its users and clients): package main's tests add those on top.
//
// It is for tests only; nothing outside _test.go files imports it.
package signettest
