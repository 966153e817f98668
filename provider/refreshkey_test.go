package provider

import (
	"strings"
	"testing"
	"time"
)

func TestRefreshKey(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	a, b := newRefreshTokenValue(t0), newRefreshTokenValue(t0.Add(time.Nanosecond))
	ka, kb := refreshKey(a), refreshKey(b)
	if len(ka) != 16+64 || !strings.HasSuffix(ka, hashHex(a)) {
		t.Errorf("key %q: want 16 hex digits of time, then the token's SHA-256", ka)
	}
	if ka >= kb {
		t.Errorf("keys out of issue order: %s >= %s", ka, kb)
	}
	if refreshKey(a) != ka {
		t.Error("refreshKey is not deterministic")
	}
	// A token of the earlier format keeps its key.
	old := randomID(32)
	if refreshKey(old) != hashHex(old) {
		t.Error("an earlier refresh token's key changed")
	}
	// The prefix only says where to look: another time, same secret, another key.
	forged := newRefreshTokenValue(t0.Add(time.Hour))[:11] + a[11:]
	if refreshKey(forged) == ka || strings.HasSuffix(refreshKey(forged), hashHex(a)) {
		t.Error("a token with a forged time prefix maps to the real token's key")
	}
}

func TestNewFamilyID(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	a, b := newFamilyID(t0), newFamilyID(t0.Add(time.Nanosecond))
	if len(a) != 16+16 || strings.Trim(a[:16], "0123456789abcdef") != "" {
		t.Errorf("id %q: want 16 hex digits of time, then 16 characters of randomness", a)
	}
	if a >= b {
		t.Errorf("ids out of start order: %s >= %s", a, b)
	}
	if c := newFamilyID(t0); c == a {
		t.Error("two families started at the same instant got the same id")
	}
}
