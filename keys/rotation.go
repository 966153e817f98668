package keys

import (
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/storage"
)

// Plan is what Decide says to do, per algorithm.
type Plan struct {
	// Generate lists the algorithms that need a new key, and in which state.
	Generate []Generation
	// Activate lists kids of next keys that start signing now.
	Activate []string
	// Retire lists kids of active keys that stop signing now.
	Retire []string
	// Delete lists kids of retired keys whose retention has passed.
	Delete []string
}

// Generation is one key to create.
type Generation struct {
	Alg   jose.SignatureAlgorithm
	State string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Generate) == 0 && len(p.Activate) == 0 && len(p.Retire) == 0 && len(p.Delete) == 0
}

// Decide is the pure rotation decision: given the stored keys, the time and the
// policy, it says what to change. It is called inside the write transaction, so
// several processes sharing one database act on the same view and rotate once.
//
// Per algorithm: with no active key (first start, or after a retire), the oldest
// next key is activated or, if there is none, a key is generated active. An active
// key older than RotationPeriod is replaced by a next key that has been published
// for at least PrepublishLead. A next key is published (generated) once the active
// key is within PrepublishLead of its rotation, so that relying parties' cached JWKS
// already contain it when it starts signing. Retired keys are deleted after
// Retention.
func Decide(keys []*storage.SigningKey, now time.Time, p Policy) Plan {
	var plan Plan
	for _, alg := range Algorithms {
		var active, next *storage.SigningKey
		for _, k := range keys {
			if k.Alg != string(alg) {
				continue
			}
			switch k.State {
			case storage.KeyActive:
				if active == nil || k.ActivatedAt.After(active.ActivatedAt) {
					active = k
				}
			case storage.KeyNext:
				if next == nil || k.CreatedAt.Before(next.CreatedAt) {
					next = k
				}
			case storage.KeyRetired:
				if !k.DeleteAfter.IsZero() && !now.Before(k.DeleteAfter) {
					plan.Delete = append(plan.Delete, k.ID)
				}
			}
		}
		switch {
		case active == nil && next != nil:
			plan.Activate = append(plan.Activate, next.ID)
		case active == nil:
			plan.Generate = append(plan.Generate, Generation{Alg: alg, State: storage.KeyActive})
		default:
			rotateAt := active.ActivatedAt.Add(p.RotationPeriod)
			if p.RotationPeriod <= 0 {
				break
			}
			if next != nil && !now.Before(rotateAt) && !now.Before(next.CreatedAt.Add(p.PrepublishLead)) {
				plan.Retire = append(plan.Retire, active.ID)
				plan.Activate = append(plan.Activate, next.ID)
			} else if next == nil && !now.Before(rotateAt.Add(-p.PrepublishLead)) {
				plan.Generate = append(plan.Generate, Generation{Alg: alg, State: storage.KeyNext})
			}
		}
	}
	return plan
}

// apply carries out plan on cur and returns the new set.
func (m *Manager) apply(cur []*storage.SigningKey, plan Plan, now time.Time) ([]*storage.SigningKey, error) {
	in := func(list []string, id string) bool {
		for _, x := range list {
			if x == id {
				return true
			}
		}
		return false
	}
	out := make([]*storage.SigningKey, 0, len(cur)+len(plan.Generate))
	for _, k := range cur {
		if in(plan.Delete, k.ID) {
			continue
		}
		c := *k
		switch {
		case in(plan.Activate, k.ID):
			c.State = storage.KeyActive
			c.ActivatedAt = now
		case in(plan.Retire, k.ID):
			c.State = storage.KeyRetired
			c.RetiredAt = now
			c.DeleteAfter = now.Add(m.policy.Retention)
		}
		out = append(out, &c)
	}
	for _, g := range plan.Generate {
		k, err := m.generate(g.Alg, g.State, now)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}
