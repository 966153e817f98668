package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// memo keeps recently decoded JSON records next to the bytes they were decoded
// from. Every refresh reads the person and, for a third-party client, the
// grant, and decoding them was 5-6 % of the server's CPU per refresh, while the
// records seldom change; a code exchange reads its session. A record is taken from the memo only when its stored
// bytes are the ones it was decoded from, compared inside the caller's
// transaction, so the memo is never stale, whoever wrote the file. Callers get a
// deep copy, which they may change.
type memo[T any] struct {
	mu    sync.Mutex
	max   int
	m     map[string]memoEntry[T]
	clone func(*T) *T
}

type memoEntry[T any] struct {
	raw []byte
	v   *T
}

// Bounds of the memos: the records in use at one time; beyond that a record is
// decoded as before.
var (
	userMemo    = &memo[storage.User]{max: 4096, clone: cloneUser}
	grantMemo   = &memo[storage.Grant]{max: 4096, clone: cloneGrant}
	sessionMemo = &memo[storage.Session]{max: 4096, clone: cloneSession}
)

// get is get[T] through the memo.
func (m *memo[T]) get(tx *bolt.Tx, bucket []byte, key string) (*T, error) {
	data := tx.Bucket(bucket).Get([]byte(key))
	if data == nil {
		return nil, nil
	}
	m.mu.Lock()
	e, ok := m.m[key]
	m.mu.Unlock()
	if ok && bytes.Equal(e.raw, data) {
		return m.clone(e.v), nil
	}
	v := new(T)
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s %q: %w", bucket, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]memoEntry[T])
	}
	if _, ok := m.m[key]; !ok && len(m.m) >= m.max {
		for k := range m.m { // full: drop one at random (map order)
			delete(m.m, k)
			break
		}
	}
	// bbolt's bytes live only as long as the transaction: keep a copy.
	m.m[key] = memoEntry[T]{raw: bytes.Clone(data), v: m.clone(v)}
	return v, nil
}

func cloneUser(u *storage.User) *storage.User {
	out := *u
	out.Groups = slices.Clone(u.Groups)
	out.TOTP.Secret = slices.Clone(u.TOTP.Secret)
	out.TOTP.RecoveryCodes = slices.Clone(u.TOTP.RecoveryCodes)
	out.TOTP.PendingSecret = slices.Clone(u.TOTP.PendingSecret)
	return &out
}

func cloneGrant(g *storage.Grant) *storage.Grant {
	out := *g
	out.Scopes = slices.Clone(g.Scopes)
	out.Declined = slices.Clone(g.Declined)
	return &out
}

func cloneSession(x *storage.Session) *storage.Session {
	out := *x
	out.AMR = slices.Clone(x.AMR)
	return &out
}
