package policy

import "slices"

// MayUse reports whether a person in groups may sign in to a client limited to
// allowed: any client without a limit, or a member of at least one allowed group.
func MayUse(groups, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, g := range groups {
		if slices.Contains(allowed, g) {
			return true
		}
	}
	return false
}
