package storagetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var keyTests = []test{
	{"UpdateReplacesSet", testUpdateKeysReplacesSet},
	{"UpdateErrorChangesNothing", testUpdateKeysErrorChangesNothing},
	{"CompareAndSwap", testUpdateKeysCompareAndSwap},
}

func newKey(id, alg, state string) *storage.SigningKey {
	return &storage.SigningKey{
		ID:        id,
		Alg:       alg,
		State:     state,
		PublicJWK: []byte(`{"kty":"EC","kid":"` + id + `"}`),
		Sealed:    []byte("sealed-" + id),
		CreatedAt: t0,
	}
}

func keyID(k *storage.SigningKey) string { return k.ID }

// sortedKeys lists the keys ordered by id (the contract fixes no order).
func sortedKeys(t *testing.T, s storage.Store) []*storage.SigningKey {
	t.Helper()
	keys, err := s.ListKeys(t.Context())
	must(t, err)
	return byID(keys)
}

func byID(keys []*storage.SigningKey) []*storage.SigningKey {
	slices.SortFunc(keys, func(a, b *storage.SigningKey) int { return strings.Compare(a.ID, b.ID) })
	return keys
}

func testUpdateKeysReplacesSet(t *testing.T, s storage.Store) {
	ctx := t.Context()
	wantIDs(t, ids(sortedKeys(t, s), keyID), nil, "empty store")

	k1, k2 := newKey("k1", "RS256", storage.KeyActive), newKey("k2", "ES256", storage.KeyNext)
	must(t, s.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		if len(cur) != 0 {
			t.Errorf("fn got %d keys from an empty store", len(cur))
		}
		return []*storage.SigningKey{k1, k2}, nil
	}))
	wantEqual(t, sortedKeys(t, s), []*storage.SigningKey{k1, k2}, "keys after the first update")

	// Rotate: k1 retires and goes, k2 activates, k3 is published as next.
	k2b := newKey("k2", "ES256", storage.KeyActive)
	k2b.ActivatedAt = t0.Add(time.Hour)
	k3 := newKey("k3", "ES256", storage.KeyNext)
	must(t, s.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		wantEqual(t, byID(cur), []*storage.SigningKey{k1, k2}, "keys given to fn")
		return []*storage.SigningKey{k3, k2b}, nil
	}))
	wantEqual(t, sortedKeys(t, s), []*storage.SigningKey{k2b, k3}, "keys after the second update")

	must(t, s.UpdateKeys(ctx, func([]*storage.SigningKey) ([]*storage.SigningKey, error) { return nil, nil }))
	wantIDs(t, ids(sortedKeys(t, s), keyID), nil, "keys after emptying the set")
}

func testUpdateKeysErrorChangesNothing(t *testing.T, s storage.Store) {
	ctx := t.Context()
	k1 := newKey("k1", "RS256", storage.KeyActive)
	must(t, s.UpdateKeys(ctx, func([]*storage.SigningKey) ([]*storage.SigningKey, error) {
		return []*storage.SigningKey{k1}, nil
	}))
	err := s.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		cur[0].State = storage.KeyRetired
		return []*storage.SigningKey{newKey("k9", "RS256", storage.KeyActive)}, errBoom
	})
	wantErr(t, err, errBoom, "UpdateKeys with a failing fn")
	wantEqual(t, sortedKeys(t, s), []*storage.SigningKey{k1}, "keys after a failed update")
}

// Several replicas decide at once that a next key is due; only one may add it.
func testUpdateKeysCompareAndSwap(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.UpdateKeys(ctx, func([]*storage.SigningKey) ([]*storage.SigningKey, error) {
		return []*storage.SigningKey{newKey("active", "RS256", storage.KeyActive)}, nil
	}))

	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
				for _, k := range cur {
					if k.State == storage.KeyNext {
						return cur, nil
					}
				}
				return append(cur, newKey(fmt.Sprint("next-", i), "RS256", storage.KeyNext)), nil
			})
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("UpdateKeys %d: %v", i, err)
		}
	}
	next := 0
	keys := sortedKeys(t, s)
	for _, k := range keys {
		if k.State == storage.KeyNext {
			next++
		}
	}
	if next != 1 || len(keys) != 2 {
		t.Errorf("after %d concurrent rotations: %d keys, %d of them next; want 2 keys, 1 next: %q", n, len(keys), next, ids(keys, keyID))
	}
}
