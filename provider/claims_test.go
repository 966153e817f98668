package provider

import (
	"maps"
	"slices"
	"testing"

	"github.com/signet-idp/signet/provider/policy"
)

// TestClaimBits fails when the claims the provider can release drift from
// policy.ReleasableClaims, which config validates scopes against.
func TestClaimBits(t *testing.T) {
	t.Parallel()
	got := slices.Sorted(maps.Keys(claimBits))
	want := slices.Sorted(slices.Values(policy.ReleasableClaims))
	if !slices.Equal(got, want) {
		t.Errorf("claimBits has %q, policy.ReleasableClaims %q", got, want)
	}
	seen := 0
	for c, bit := range claimBits {
		if bit == 0 || bit&(bit-1) != 0 || seen&bit != 0 {
			t.Errorf("claim %q has bit %#x: want one bit of its own", c, bit)
		}
		seen |= bit
	}
}
