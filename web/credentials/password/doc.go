// Package password hashes and verifies people's passwords.
//
// New hashes are argon2id in the PHC string format of the reference implementation:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//
// with salt and hash in standard base64 without padding. Verify also accepts bcrypt
// hashes imported from another system ($2a$, $2b$, $2y$) and reports that they, and
// argon2id hashes made with other parameters than the current ones, need rehashing,
// so that the caller upgrades them on the next successful login.
//
// Each hash costs tens of MiB and a noticeable slice of a CPU, so a Hasher bounds how
// many run at once; a caller whose context ends while waiting gets ErrBusy.
// VerifyDummy does the work of a real verification for people who do not exist, so
// that an unknown username takes as long as a known one.
//
// The package owns no storage and no policy about who may log in: it never sees a
// user record, and it never logs or returns a password in an error.
package password
