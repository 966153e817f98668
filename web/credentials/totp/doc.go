// Package totp owns Signet's second factor: time-based one-time passwords (RFC
// 6238, through github.com/pquerna/otp) and single-use recovery codes. It seals the
// TOTP secret at rest (AES-256-GCM under a key that main derives from the cookie
// key with DeriveKey: keys rewrap replaces the key-encryption key and must not
// lock people out), builds the otpauth:// URI and its QR image, parses what a
// person types, and checks a code against storage.User.TOTP inside one UpdateUser
// transaction: the time step of an accepted code is recorded there, so no code is
// accepted twice, and wrong codes are counted there, so guessing backs off.
//
// It does not render pages, hold sessions or decide when a second factor is
// needed (package web does), and it never logs: codes, secrets and recovery codes
// never leave it except to the page that shows them once.
//
// Parameters are those every authenticator app supports: SHA-1, six digits, 30
// second steps, and one step of clock skew either way.
//
// Throttling: after FreeFailures wrong codes in a row, each further failure
// refuses every code until a computed time (Backoff: 15 s, doubling, at most an
// hour); a correct code resets the count. Three time steps are accepted, so a
// guess succeeds with probability 3/10^6: within a code's life (90 s) an attacker
// who already has the password gets a handful of guesses, and after the first
// hours at most 24 a day.
package totp
