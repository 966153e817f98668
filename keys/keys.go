// Package keys owns Signet's signing keys: generating RS256 and ES256 keys, sealing
// the private halves at rest (AES-256-GCM under the key-encryption key), deciding
// their lifecycle (next -> active -> retired -> deleted) and holding an immutable
// in-memory snapshot from which every token is signed and the JWKS is served.
//
// It does not know about tokens, clients or HTTP routing: the provider asks it for a
// signer by algorithm and for the published public keys. Only public keys leave this
// package; the signing path never touches storage.
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
	"sort"
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
	// jwt signs with header typ "JWT" (ID tokens); atJWT with "at+jwt" (RFC 9068).
	jwt   jose.Signer
	atJWT jose.Signer
	// Private is the private key (for op.SigningKey); it never leaves the process.
	private crypto.Signer
}

// SignJWT signs payload as a JWS with typ "JWT" and returns its compact form.
func (s *Signer) SignJWT(payload []byte) (string, error) { return sign(s.jwt, payload) }

// SignAccessToken signs payload as a JWS with typ "at+jwt" (RFC 9068).
func (s *Signer) SignAccessToken(payload []byte) (string, error) { return sign(s.atJWT, payload) }

// SignatureAlgorithm, Key and ID make a Signer an op.SigningKey.
func (s *Signer) SignatureAlgorithm() jose.SignatureAlgorithm { return s.Alg }

// Key returns the private key for op.SigningKey.
func (s *Signer) Key() any { return s.private }

// ID returns the kid.
func (s *Signer) ID() string { return s.KID }

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
	Version uint64
}

// Signer returns the active signer for alg.
func (s *Snapshot) Signer(alg jose.SignatureAlgorithm) (*Signer, bool) {
	sg, ok := s.active[alg]
	return sg, ok
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
	sealer  *sealer
	policy  Policy
	now     func() time.Time
	snap    atomic.Pointer[Snapshot]
	version atomic.Uint64
	// onChange, when set, is called after every snapshot swap (discovery and JWKS
	// bytes depend on it).
	onChange func(*Snapshot)
}

// NewManager returns a Manager; call Init before use.
func NewManager(store storage.Keys, kek [32]byte, policy Policy, now func() time.Time) (*Manager, error) {
	s, err := newSealer(kek)
	if err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Manager{store: store, sealer: s, policy: policy, now: now}, nil
}

// OnChange registers fn to be called with every new snapshot.
func (m *Manager) OnChange(fn func(*Snapshot)) { m.onChange = fn }

// Snapshot returns the current snapshot. It never touches storage.
func (m *Manager) Snapshot() *Snapshot { return m.snap.Load() }

// Init ensures every algorithm has an active key (generating them on first start),
// then loads the snapshot. A wrong key-encryption key is ErrWrongKEK.
func (m *Manager) Init(ctx context.Context) error {
	if err := m.Rotate(ctx); err != nil {
		return err
	}
	return m.Reload(ctx)
}

// Rotate applies the policy decision once, as a compare-and-swap on the stored set.
func (m *Manager) Rotate(ctx context.Context) error {
	now := m.now().UTC()
	changed := false
	err := m.store.UpdateKeys(ctx, func(cur []*storage.SigningKey) ([]*storage.SigningKey, error) {
		plan := Decide(cur, now, m.policy)
		if plan.Empty() {
			return cur, nil
		}
		next, err := m.apply(cur, plan, now)
		if err != nil {
			return nil, err
		}
		changed = true
		return next, nil
	})
	if err != nil {
		return fmt.Errorf("keys: rotate: %w", err)
	}
	if changed {
		return m.Reload(ctx)
	}
	return nil
}

// Reload rebuilds the snapshot from storage.
func (m *Manager) Reload(ctx context.Context) error {
	stored, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	snap, err := m.build(stored)
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
		active: map[jose.SignatureAlgorithm]*Signer{},
		byID:   map[string]PublicKey{},
	}
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
		priv, err := m.sealer.open(k.Sealed, k.ID)
		if err != nil {
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
	return &Signer{KID: kid, Alg: alg, jwt: jwt, atJWT: at, private: priv}, nil
}

// generate makes a new key for alg in state, sealed under the manager's KEK.
func (m *Manager) generate(alg jose.SignatureAlgorithm, state string, now time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
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
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal private key: %w", err)
	}
	sealed, err := m.sealer.seal(der, pub.KeyID)
	if err != nil {
		return nil, err
	}
	k := &storage.SigningKey{
		ID: pub.KeyID, Alg: string(alg), State: state,
		PublicJWK: pubJSON, Sealed: sealed, CreatedAt: now,
	}
	if state == storage.KeyActive {
		k.ActivatedAt = now
	}
	return k, nil
}
