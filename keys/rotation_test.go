package keys

import (
	"fmt"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var testPolicy = Policy{RotationPeriod: 30 * 24 * time.Hour, PrepublishLead: 2 * time.Hour, Retention: 2 * time.Hour}

// simulate applies Decide's plans without cryptography, as apply would.
func simulate(set []*storage.SigningKey, plan Plan, now time.Time, p Policy, seq *int) []*storage.SigningKey {
	var out []*storage.SigningKey
	for _, k := range set {
		del := false
		for _, id := range plan.Delete {
			del = del || id == k.ID
		}
		if del {
			continue
		}
		c := *k
		for _, id := range plan.Activate {
			if id == k.ID {
				c.State, c.ActivatedAt = storage.KeyActive, now
			}
		}
		for _, id := range plan.Retire {
			if id == k.ID {
				retire(&c, now, p)
			}
		}
		out = append(out, &c)
	}
	for _, g := range plan.Generate {
		*seq++
		k := &storage.SigningKey{ID: fmt.Sprintf("%s-%d", g.Alg, *seq), Alg: string(g.Alg), State: g.State, CreatedAt: now}
		if g.State == storage.KeyActive {
			k.ActivatedAt = now
		}
		out = append(out, k)
	}
	return out
}

func TestDecideFirstStart(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	plan := Decide(nil, now, testPolicy)
	want := map[Generation]int{}
	for _, g := range plan.Generate {
		want[g]++
	}
	for _, alg := range Algorithms {
		if want[Generation{alg, storage.KeyActive}] != 1 || want[Generation{alg, storage.KeyNext}] != 1 {
			t.Errorf("%s: plan %+v, want one active and one next", alg, plan)
		}
	}
	seq := 0
	set := simulate(nil, plan, now, testPolicy, &seq)
	if p := Decide(set, now, testPolicy); !p.Empty() {
		t.Errorf("decision is not stable: %+v", p)
	}
}

func TestDecideTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	key := func(id, state string, created, activated time.Time) *storage.SigningKey {
		return &storage.SigningKey{ID: id, Alg: "RS256", State: state, CreatedAt: created, ActivatedAt: activated}
	}
	es := []*storage.SigningKey{
		{ID: "e1", Alg: "ES256", State: storage.KeyActive, CreatedAt: now, ActivatedAt: now},
		{ID: "e2", Alg: "ES256", State: storage.KeyNext, CreatedAt: now},
	}
	for _, tc := range []struct {
		name string
		keys []*storage.SigningKey
		want Plan
	}{
		{"steady", []*storage.SigningKey{key("a", storage.KeyActive, now.Add(-day), now.Add(-day)), key("n", storage.KeyNext, now.Add(-day), time.Time{})}, Plan{}},
		{"period passed, next published long enough", []*storage.SigningKey{key("a", storage.KeyActive, now.Add(-31*day), now.Add(-31*day)), key("n", storage.KeyNext, now.Add(-31*day), time.Time{})},
			Plan{Retire: []string{"a"}, Activate: []string{"n"}, Generate: []Generation{{"RS256", storage.KeyNext}}}},
		{"period passed, next too fresh waits", []*storage.SigningKey{key("a", storage.KeyActive, now.Add(-31*day), now.Add(-31*day)), key("n", storage.KeyNext, now.Add(-time.Hour), time.Time{})}, Plan{}},
		{"no next is published", []*storage.SigningKey{key("a", storage.KeyActive, now.Add(-day), now.Add(-day))}, Plan{Generate: []Generation{{"RS256", storage.KeyNext}}}},
		{"active retired manually", []*storage.SigningKey{key("n", storage.KeyNext, now.Add(-day), time.Time{})},
			Plan{Activate: []string{"n"}, Generate: []Generation{{"RS256", storage.KeyNext}}}},
		{"two actives", []*storage.SigningKey{key("old", storage.KeyActive, now.Add(-2*day), now.Add(-2*day)), key("new", storage.KeyActive, now.Add(-day), now.Add(-day)), key("n", storage.KeyNext, now, time.Time{})},
			Plan{Retire: []string{"old"}}},
		{"retired past retention", []*storage.SigningKey{key("a", storage.KeyActive, now, now), key("n", storage.KeyNext, now, time.Time{}),
			{ID: "r", Alg: "RS256", State: storage.KeyRetired, DeleteAfter: now.Add(-time.Second)}}, Plan{Delete: []string{"r"}}},
		{"retired within retention", []*storage.SigningKey{key("a", storage.KeyActive, now, now), key("n", storage.KeyNext, now, time.Time{}),
			{ID: "r", Alg: "RS256", State: storage.KeyRetired, DeleteAfter: now.Add(time.Second)}}, Plan{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(append(tc.keys, es...), now, testPolicy)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDecideYear runs the decision every hour for a year with a fake clock and
// checks the invariants at every step: one active key per algorithm, a next key
// always published, every signing key published at least PrepublishLead before it
// signed, and every retired key kept for Retention.
func TestDecideYear(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	seq := 0
	var set []*storage.SigningKey
	firstSeen := map[string]time.Time{}
	rotations := 0
	for now := start; now.Before(start.AddDate(1, 0, 0)); now = now.Add(time.Hour) {
		plan := Decide(set, now, testPolicy)
		rotations += len(plan.Retire)
		set = simulate(set, plan, now, testPolicy, &seq)
		if p := Decide(set, now, testPolicy); !p.Empty() {
			t.Fatalf("%s: decision not stable after applying: %+v", now, p)
		}
		for _, alg := range Algorithms {
			active, next := 0, 0
			for _, k := range set {
				if k.Alg != string(alg) {
					continue
				}
				if _, ok := firstSeen[k.ID]; !ok {
					firstSeen[k.ID] = now
				}
				switch k.State {
				case storage.KeyActive:
					active++
					// Keys generated at first start sign at once; every later one
					// was published before it signed.
					if !k.CreatedAt.Equal(start) && k.ActivatedAt.Sub(firstSeen[k.ID]) < testPolicy.PrepublishLead {
						t.Fatalf("%s: key %s signs %s after publication, want >= %s", now, k.ID, k.ActivatedAt.Sub(firstSeen[k.ID]), testPolicy.PrepublishLead)
					}
				case storage.KeyNext:
					next++
				case storage.KeyRetired:
					if now.Sub(k.RetiredAt) > testPolicy.Retention+time.Hour {
						t.Fatalf("%s: retired key %s kept too long", now, k.ID)
					}
				}
			}
			if active != 1 || next != 1 {
				t.Fatalf("%s: %s has %d active and %d next keys", now, alg, active, next)
			}
		}
	}
	// 365 days / 30-day period = 12 rotations per algorithm.
	if rotations != 2*12 {
		t.Errorf("rotations in a year = %d, want 24", rotations)
	}
}
