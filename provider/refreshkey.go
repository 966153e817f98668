package provider

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// Refresh tokens begin with their issue time, so that storage keys them in
// time order. Keyed by a hash alone, every rotation inserted its successor at
// a random place in the B+tree and updated its predecessor at another: a
// group commit of n rotations rewrote about 2n scattered leaf pages (each a
// pwrite and part of the sync). Keyed by issue time, successors land together
// at the end of the tree, and a chain's predecessor, issued a moment before,
// usually near them. The hash still covers the whole token: the prefix only
// says where to look, and a forged one finds nothing.

// refreshTokenLen is the decoded length of a refresh token: 8 bytes of issue
// time (Unix nanoseconds, big-endian) and 32 random bytes.
const refreshTokenLen = 8 + 32

// newRefreshTokenValue returns a new refresh token issued at now.
func newRefreshTokenValue(now time.Time) string {
	b := make([]byte, refreshTokenLen)
	binary.BigEndian.PutUint64(b, uint64(now.UnixNano()))
	rand.Read(b[8:])
	return base64.RawURLEncoding.EncodeToString(b)
}

// refreshKey is a refresh token's storage key: the hex of its time prefix and
// the SHA-256 (hex) of the whole token. A token of the earlier format (32
// random bytes) is keyed by its SHA-256 alone, as it was stored.
func refreshKey(token string) string {
	sum := hashHex(token)
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != refreshTokenLen {
		return sum
	}
	return hex.EncodeToString(b[:8]) + sum
}

// newFamilyID returns the id of a refresh family started at now: the hex of its
// start time (Unix nanoseconds), then 96 random bits. For the reason refresh
// tokens begin with theirs: a code exchange stores its new family, and the
// family's member index entries, at the end of the B+tree beside the others of
// its group commit, not on a random leaf page each. The id only names the
// family; it grants nothing (a JWT access token's "fid" claim is signed).
func newFamilyID(now time.Time) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))) + randomID(12)
}
