// Package keys owns Signet's signing keys: generating RS256 and ES256 keys, sealing
// the private halves at rest (AES-256-GCM under the key-encryption key), deciding
// their lifecycle (next -> active -> retired -> deleted) and holding an immutable
// in-memory snapshot from which every token is signed and the JWKS is served.
//
// It does not know about tokens, clients or HTTP routing: the provider asks it for a
// signer by algorithm and for the published public keys. A private key never
// leaves this package: a Signer signs with it and does not hand it out (Signet
// signs every token itself; zitadel's op.SigningKey is not given one), and the
// signing path never touches storage.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-idp/signet/storage"
)

// Supported algorithms, in the order they are published.
var Algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// ErrWrongKEK means the stored private keys cannot be opened with the configured
// key-encryption key.
var ErrWrongKEK = errors.New("signing keys cannot be decrypted with this key-encryption key")

// Policy is the rotation policy.
type Policy struct {
	// RotationPeriod is how long a key signs before the next takes over.
	RotationPeriod time.Duration
	// PrepublishLead is how long a next key is published before it may sign.
	PrepublishLead time.Duration
	// Retention is how long a retired key stays published: the longest lifetime of
	// a token it may have signed, plus a margin.
	Retention time.Duration
}

// Signer signs with one key. It is built once per key change; jose signers are
// safe for concurrent use.
type Signer struct {
	KID string
	Alg jose.SignatureAlgorithm
	// jwt signs with header typ "JWT" (ID tokens); atJWT with "at+jwt" (RFC 9068);
	// logoutJWT with "logout+jwt" (back-channel logout tokens).
	jwt       jose.Signer
	atJWT     jose.Signer
	logoutJWT jose.Signer
}

// SignJWT signs payload as a JWS with typ "JWT" and returns its compact form.
func (s *Signer) SignJWT(payload []byte) (string, error) { return sign(s.jwt, payload) }

// SignAccessToken signs payload as a JWS with typ "at+jwt" (RFC 9068).
func (s *Signer) SignAccessToken(payload []byte) (string, error) { return sign(s.atJWT, payload) }

// SignLogoutToken signs payload as a JWS with typ "logout+jwt".
func (s *Signer) SignLogoutToken(payload []byte) (string, error) { return sign(s.logoutJWT, payload) }

func sign(js jose.Signer, payload []byte) (string, error) {
	obj, err := js.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return obj.CompactSerialize()
}

// PublicKey is one published key.
type PublicKey struct {
	JWK   jose.JSONWebKey
	State string
}

// ID, Algorithm, Use and Key make a PublicKey an op.Key.
func (k PublicKey) ID() string { return k.JWK.KeyID }

// Algorithm returns the key's alg.
func (k PublicKey) Algorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.JWK.Algorithm)
}

// Use returns "sig".
func (k PublicKey) Use() string { return "sig" }

// Key returns the public key.
func (k PublicKey) Key() any { return k.JWK.Key }

// Snapshot is an immutable view of the keys at one moment.
type Snapshot struct {
	active    map[jose.SignatureAlgorithm]*Signer
	published []PublicKey
	byID      map[string]PublicKey
	// JWKS is the serialized JSON Web Key Set, built once.
	JWKS []byte
	// ETag is a strong validator of JWKS.
	ETag string
	// Version changes whenever the published set changes.
	Version     uint64
	fingerprint string
	damaged     []string
}

// Signer returns the active signer for alg.
func (s *Snapshot) Signer(alg jose.SignatureAlgorithm) (*Signer, bool) {
	sg, ok := s.active[alg]
	return sg, ok
}

// Damaged returns the kids of active keys whose private part could not be
// opened although the key-encryption key opens others: they sign nothing until
// retired.
func (s *Snapshot) Damaged() []string { return s.damaged }

// opensAnother returns the kid of a stored key, other than kid, that sl opens,
// or "": whether the key-encryption key itself is right.
func opensAnother(sl *sealer, stored []*storage.SigningKey, kid string) string {
	for _, k := range stored {
		if k.ID != kid {
			if _, err := sl.openDER(k.Sealed, k.ID); err == nil {
				return k.ID
			}
		}
	}
	return ""
}

// Published returns the keys in the JWKS.
func (s *Snapshot) Published() []PublicKey { return s.published }

// Lookup returns a published key by kid.
func (s *Snapshot) Lookup(kid string) (PublicKey, bool) {
	k, ok := s.byID[kid]
	return k, ok
}

// Manager holds the current snapshot and reloads it after every change.
type Manager struct {
	store   storage.Keys
	sealer  atomic.Pointer[sealer]
	policy  Policy
	now     func() time.Time
	log     *slog.Logger
	snap    atomic.Pointer[Snapshot]
	version atomic.Uint64
	// mu serialises this process's writes (rotation loop, admin commands);
	// other processes are serialised by the storage transaction.
	mu sync.Mutex
	// onChange, when set, is called after every snapshot swap (discovery and JWKS
	// bytes depend on it).
	onChange func(*Snapshot)
}

// NewManager returns a Manager; call Init before use. log receives what the
// Manager handles itself, a damaged key record (nothing is logged when nil).
func NewManager(store storage.Keys, kek [32]byte, policy Policy, now func() time.Time, log *slog.Logger) (*Manager, error) {
	s, err := newSealer(kek)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{store: store, policy: policy, now: now, log: log}
	m.sealer.Store(s)
	return m, nil
}

// OnChange registers fn to be called with every new snapshot.
func (m *Manager) OnChange(fn func(*Snapshot)) { m.onChange = fn }

// Snapshot returns the current snapshot. It never touches storage.
func (m *Manager) Snapshot() *Snapshot { return m.snap.Load() }

// Init ensures every algorithm has an active and a next key (generating them on
// first start), then loads the snapshot. A wrong key-encryption key is ErrWrongKEK.
func (m *Manager) Init(ctx context.Context) error {
	if err := m.Rotate(ctx); err != nil {
		return err
	}
	if m.Snapshot() == nil {
		return m.Reload(ctx)
	}
	return nil
}

// errNoChange aborts a key transaction that has nothing to write.
var errNoChange = errors.New("keys: no change")

// Rotate applies the policy decision once and reloads the snapshot if the stored
// keys changed, here or in another process sharing the database. The background
// loop calls it; it never blocks signing, which reads the snapshot.
func (m *Manager) Rotate(ctx context.Context) error {
	return m.update(ctx, nil)
}

// RotateNow makes the next key of alg (both algorithms when alg is empty) sign
// now: the active key retires and a new next key is published.
func (m *Manager) RotateNow(ctx context.Context, alg string) error {
	if alg != "" && alg != string(jose.RS256) && alg != string(jose.ES256) {
		return fmt.Errorf("keys: unsupported algorithm %q (RS256 or ES256)", alg)
	}
	return m.update(ctx, func(set []*storage.SigningKey, now time.Time) ([]*storage.SigningKey, error) {
		for _, k := range set {
			if k.State == storage.KeyActive && (alg == "" || k.Alg == alg) {
				retire(k, now, m.policy)
			}
		}
		return set, nil
	})
}

// ErrUnknownKey is returned by Retire for a kid that is not stored.
var ErrUnknownKey = fmt.Errorf("unknown key id: %w", storage.ErrNotFound)

// Retire removes a (compromised) key at once: it leaves the JWKS, so tokens it
// signed stop verifying; if it was signing, the next key takes over.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	return m.update(ctx, func(set []*storage.SigningKey, _ time.Time) ([]*storage.SigningKey, error) {
		i := slices.IndexFunc(set, func(k *storage.SigningKey) bool { return k.ID == kid })
		if i < 0 {
			return nil, fmt.Errorf("keys: retire %q: %w", kid, ErrUnknownKey)
		}
		return slices.Delete(set, i, i+1), nil
	})
}

// Rewrap seals every private key under newKEK, in one transaction, and from then
// on uses newKEK. The caller persists newKEK (before calling, so that a crash
// leaves a key that opens the database).
func (m *Manager) Rewrap(ctx context.Context, newKEK [32]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := newSealer(newKEK)
	if err != nil {
		return err
	}
	old := m.sealer.Load()
	err = m.store.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		out := make([]*storage.SigningKey, len(cur))
		for i, k := range cur {
			der, err := old.openDER(k.Sealed, k.ID)
			if err != nil {
				return nil, err
			}
			c := *k
			if c.Sealed, err = next.seal(der, k.ID); err != nil {
				return nil, err
			}
			out[i] = &c
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("keys: rewrap: %w", err)
	}
	m.sealer.Store(next)
	return nil
}

// update runs mutate (if any) and the policy decision as one compare-and-swap on
// the stored set. Keys the decision will need are generated before the write
// transaction (RSA generation takes tens of milliseconds; token writes must not
// wait for it) and re-checked inside it.
func (m *Manager) update(ctx context.Context, mutate func([]*storage.SigningKey, time.Time) ([]*storage.SigningKey, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UTC()
	listed, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	preview := cloneKeys(listed)
	if mutate != nil {
		if preview, err = mutate(preview, now); err != nil {
			return err
		}
	}
	plan := Decide(preview, now, m.policy)
	if mutate == nil && plan.Empty() {
		// Nothing to write; pick up what another process changed.
		if snap := m.Snapshot(); snap == nil || snap.fingerprint != fingerprint(listed) {
			return m.reload(listed)
		}
		return nil
	}
	pool := map[jose.SignatureAlgorithm][]*storage.SigningKey{}
	for _, g := range plan.Generate {
		k, err := m.generate(g.Alg)
		if err != nil {
			return err
		}
		pool[g.Alg] = append(pool[g.Alg], k)
	}
	var written []*storage.SigningKey
	err = m.store.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		set := cloneKeys(cur)
		var err error
		if mutate != nil {
			if set, err = mutate(set, now); err != nil {
				return nil, err
			}
		}
		plan := Decide(set, now, m.policy)
		if mutate == nil && plan.Empty() {
			return nil, errNoChange // another process got there first
		}
		if written, err = m.apply(set, plan, now, pool); err != nil {
			return nil, err
		}
		return written, nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return m.Reload(ctx)
	case err != nil:
		return fmt.Errorf("keys: %w", err)
	}
	return m.reload(written)
}

func cloneKeys(in []*storage.SigningKey) []*storage.SigningKey {
	out := make([]*storage.SigningKey, len(in))
	for i, k := range in {
		c := *k
		out[i] = &c
	}
	return out
}

// fingerprint identifies a key set's published content (ids and states).
func fingerprint(keys []*storage.SigningKey) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + k.State
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// Sync rebuilds the snapshot when the stored key set differs from the one it
// was built from (another replica rotated or retired a key, or the CLI did it
// in the database directly) and reports whether it did. It reads the key set
// and compares ids and states, so it is cheap enough to poll every few seconds.
func (m *Manager) Sync(ctx context.Context) (bool, error) {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("keys: list: %w", err)
	}
	if cur := m.snap.Load(); cur != nil && cur.fingerprint == fingerprint(stored) {
		return false, nil
	}
	return true, m.reload(stored)
}

// Reload rebuilds the snapshot from storage.
func (m *Manager) Reload(ctx context.Context) error {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	return m.reload(stored)
}

func (m *Manager) reload(stored []*storage.SigningKey) error {
	snap, err := m.build(cloneKeys(stored))
	if err != nil {
		return err
	}
	snap.Version = m.version.Add(1)
	m.snap.Store(snap)
	if m.onChange != nil {
		m.onChange(snap)
	}
	return nil
}

func (m *Manager) build(stored []*storage.SigningKey) (*Snapshot, error) {
	sort.Slice(stored, func(i, j int) bool {
		if stored[i].Alg != stored[j].Alg {
			return stored[i].Alg > stored[j].Alg // RS256 before ES256
		}
		return stored[i].CreatedAt.Before(stored[j].CreatedAt)
	})
	snap := &Snapshot{
		active:      map[jose.SignatureAlgorithm]*Signer{},
		byID:        map[string]PublicKey{},
		fingerprint: fingerprint(stored),
	}
	sl := m.sealer.Load()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range stored {
		var pub jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJWK, &pub); err != nil {
			return nil, fmt.Errorf("keys: key %s: corrupted public key: %w", k.ID, err)
		}
		if !pub.IsPublic() {
			return nil, fmt.Errorf("keys: key %s: stored public key has private parts", k.ID)
		}
		pk := PublicKey{JWK: pub, State: k.State}
		snap.published = append(snap.published, pk)
		snap.byID[k.ID] = pk
		set.Keys = append(set.Keys, pub)
		if k.State != storage.KeyActive {
			continue
		}
		priv, err := sl.open(k.Sealed, k.ID)
		if err != nil {
			if other := opensAnother(sl, stored, k.ID); other != "" {
				// The key-encryption key is right (it opens other keys): this
				// record is damaged. Publish it, sign nothing with it, and let
				// the server start so that an operator can retire it; refusing
				// to start would leave restoring the database as the only way.
				m.log.Error("a signing key's private part cannot be opened although other keys open with this key-encryption key: its record is damaged; run `signet keys retire KID` and the next key takes over",
					"kid", k.ID, "alg", k.Alg, "opens", other, "error", err)
				snap.damaged = append(snap.damaged, k.ID)
				continue
			}
			return nil, err
		}
		sg, err := newSigner(k.ID, jose.SignatureAlgorithm(k.Alg), priv)
		if err != nil {
			return nil, err
		}
		snap.active[sg.Alg] = sg
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal jwks: %w", err)
	}
	sum := sha256.Sum256(b)
	snap.JWKS = b
	snap.ETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return snap, nil
}

func newSigner(kid string, alg jose.SignatureAlgorithm, priv crypto.Signer) (*Signer, error) {
	key := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg), Use: "sig"}}
	jwt, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", kid, err)
	}
	at, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", kid, err)
	}
	lo, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		return nil, fmt.Errorf("keys: signer for %s: %w", kid, err)
	}
	return &Signer{KID: kid, Alg: alg, jwt: jwt, atJWT: at, logoutJWT: lo}, nil
}

// generate makes a new key for alg, sealed under the manager's KEK; apply sets
// its state and dates.
//
// The kid is the RFC 7638 thumbprint in base64url, which begins with '-' for
// one key in 64; such a kid reads as a flag on a command line
// ("signet keys retire -xyz"), so a key whose kid would begin with '-' is
// discarded and another generated.
func (m *Manager) generate(alg jose.SignatureAlgorithm) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var pub jose.JSONWebKey
	for {
		var err error
		switch alg {
		case jose.RS256:
			priv, err = rsa.GenerateKey(rand.Reader, 2048)
		case jose.ES256:
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		default:
			return nil, fmt.Errorf("keys: unsupported algorithm %q", alg)
		}
		if err != nil {
			return nil, fmt.Errorf("keys: generate %s: %w", alg, err)
		}
		pub = jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("keys: thumbprint: %w", err)
		}
		pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		if !strings.HasPrefix(pub.KeyID, "-") {
			break
		}
	}
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal private key: %w", err)
	}
	sealed, err := m.sealer.Load().seal(der, pub.KeyID)
	if err != nil {
		return nil, err
	}
	return &storage.SigningKey{ID: pub.KeyID, Alg: string(alg), PublicJWK: pubJSON, Sealed: sealed}, nil
}
