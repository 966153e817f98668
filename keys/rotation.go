package keys

import (
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/storage"
)

// Plan is what Decide says to do.
type Plan struct {
	// Generate lists the keys to create, and in which state.
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
// policy, it says what to change. It runs again inside the write transaction, so
// several processes sharing one database act on the same view and rotate once.
//
// Per algorithm it keeps exactly one active key and always one published next
// key, so that relying parties' cached JWKS already hold the key that signs after
// a rotation (scheduled or manual):
//   - no active key (first start, or after a retire): the oldest next key is
//     activated, or a key is generated active when there is none;
//   - more than one active key: all but the newest retire;
//   - the active key has signed for RotationPeriod and the next key has been
//     published for PrepublishLead: the active key retires, the next activates;
//   - no next key left: one is generated;
//   - retired keys are deleted once DeleteAfter has passed.
func Decide(keys []*storage.SigningKey, now time.Time, p Policy) Plan {
	var plan Plan
	for _, alg := range Algorithms {
		var actives, nexts []*storage.SigningKey
		for _, k := range keys {
			if k.Alg != string(alg) {
				continue
			}
			switch k.State {
			case storage.KeyActive:
				actives = append(actives, k)
			case storage.KeyNext:
				nexts = append(nexts, k)
			case storage.KeyRetired:
				if !now.Before(k.DeleteAfter) {
					plan.Delete = append(plan.Delete, k.ID)
				}
			}
		}
		// Newest active last, oldest next first.
		slices.SortFunc(actives, func(a, b *storage.SigningKey) int { return a.ActivatedAt.Compare(b.ActivatedAt) })
		slices.SortFunc(nexts, func(a, b *storage.SigningKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for len(actives) > 1 {
			plan.Retire = append(plan.Retire, actives[0].ID)
			actives = actives[1:]
		}
		needNext := len(nexts) == 0
		switch {
		case len(actives) == 0 && len(nexts) > 0:
			plan.Activate = append(plan.Activate, nexts[0].ID)
			needNext = len(nexts) == 1
		case len(actives) == 0:
			plan.Generate = append(plan.Generate, Generation{Alg: alg, State: storage.KeyActive})
		case p.RotationPeriod > 0 && len(nexts) > 0 &&
			!now.Before(actives[0].ActivatedAt.Add(p.RotationPeriod)) &&
			!now.Before(nexts[0].CreatedAt.Add(p.PrepublishLead)):
			plan.Retire = append(plan.Retire, actives[0].ID)
			plan.Activate = append(plan.Activate, nexts[0].ID)
			needNext = len(nexts) == 1
		}
		if needNext {
			plan.Generate = append(plan.Generate, Generation{Alg: alg, State: storage.KeyNext})
		}
	}
	return plan
}

// apply carries out plan on cur and returns the new set. pool holds keys generated
// ahead of the transaction; more are generated only if it runs short.
func (m *Manager) apply(cur []*storage.SigningKey, plan Plan, now time.Time, pool map[jose.SignatureAlgorithm][]*storage.SigningKey) ([]*storage.SigningKey, error) {
	out := make([]*storage.SigningKey, 0, len(cur)+len(plan.Generate))
	for _, k := range cur {
		if slices.Contains(plan.Delete, k.ID) {
			continue
		}
		c := *k
		switch {
		case slices.Contains(plan.Activate, k.ID):
			c.State = storage.KeyActive
			c.ActivatedAt = now
		case slices.Contains(plan.Retire, k.ID):
			retire(&c, now, m.policy)
		}
		out = append(out, &c)
	}
	for _, g := range plan.Generate {
		var k *storage.SigningKey
		if p := pool[g.Alg]; len(p) > 0 {
			k, pool[g.Alg] = p[0], p[1:]
		} else {
			var err error
			if k, err = m.generate(g.Alg); err != nil {
				return nil, err
			}
		}
		k.State = g.State
		k.CreatedAt = now
		if g.State == storage.KeyActive {
			k.ActivatedAt = now
		}
		out = append(out, k)
	}
	return out, nil
}

func retire(k *storage.SigningKey, now time.Time, p Policy) {
	k.State = storage.KeyRetired
	k.RetiredAt = now
	k.DeleteAfter = now.Add(p.Retention)
}
