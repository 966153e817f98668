package policy

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"strings"
)

// User codes of the device authorization grant (RFC 8628, section 6.1): what
// a person reads off a TV and types on a phone. Eight letters from an alphabet
// without vowels, so that no word is spelled by accident and no O or I passes
// for a digit (and Y, which reads as a vowel, is out too); shown as two groups
// of four, accepted in any case, with or without the dash and spaces. 20^8 is about 2^34.6 codes: enough when guesses are throttled and a
// code lives for minutes, not enough to store as a plain hash.
const UserCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// UserCodeLen is the number of letters in a user code.
const UserCodeLen = 8

// NewUserCode returns a random user code, normalised (no dash).
func NewUserCode() string {
	n := big.NewInt(int64(len(UserCodeAlphabet)))
	var b strings.Builder
	for range UserCodeLen {
		i, err := rand.Int(rand.Reader, n) // uniform: no modulo bias
		if err != nil {
			panic(err) // crypto/rand does not fail on supported systems
		}
		b.WriteByte(UserCodeAlphabet[i.Int64()])
	}
	return b.String()
}

// FormatUserCode shows a normalised user code as people read it: BCDF-GHJK.
func FormatUserCode(code string) string {
	if len(code) != UserCodeLen {
		return code
	}
	return code[:4] + "-" + code[4:]
}

// NormalizeUserCode turns what a person typed into the normalised code: upper
// case, without dashes and white space. ok is false when the rest is not
// UserCodeLen letters of the alphabet (such input matches no request and
// needs no look-up).
func NormalizeUserCode(typed string) (code string, ok bool) {
	if len(typed) > 64 {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r < 128 && strings.IndexByte(UserCodeAlphabet, byte(r)) >= 0:
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	if b.Len() != UserCodeLen {
		return "", false
	}
	return b.String(), true
}

// UserCodeHash is how a user code is stored and looked up: an HMAC-SHA-256
// (hex) under a key derived from secret (the cookie key, which the provider and
// the pages both hold), so that a copy of the database does not give the codes
// up to an offline search of their small space.
func UserCodeHash(secret [32]byte, code string) string {
	k := hmac.New(sha256.New, secret[:])
	k.Write([]byte("signet/device-user-code/v1"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}
