// Package pending keeps authorization requests that nobody has signed in to out of
// storage: anyone on the internet can send /authorize, and a record per request
// would let anonymous traffic grow the database without bound.
//
// Store wraps a storage.Store. CreateAuthRequest of a request without sign-in
// state stores nothing: it seals the request (AES-256-GCM, under a key derived
// from the cookie key) into its own id, which then travels in the login URL and
// forms. The first update (a person passed the password, the session answered
// for them, consent was asked) writes the record, under a short key derived from
// the sealed id, and from then on every read of that id returns the stored record.
// So only sign-ins, not requests, reach storage.
//
// It owns the sealing and the mapping from sealed id to stored key; it does not
// decide who may sign in, nor when a request has expired (callers do, with the
// record's Expired method, as for stored requests). Every other method passes
// through to the wrapped store. Replicas that share the cookie key open each
// other's sealed requests.
//
// A sealed request cannot be deleted before it is stored: deleting one (an error
// sent back to the client before anybody signed in) forgets nothing, and the
// same login URL can start the same sign-in again until the request expires,
// as if the client had sent it again.
package pending

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/storage"
)

// prefix marks a sealed id: stored ids are random base64url, which never
// contains '.' and so can never be mistaken for one.
const prefix = "s."

// aad binds the ciphertext to its use, so that nothing else sealed under a
// related key opens as a request.
var aad = []byte("signet/pending-auth-request/v1")

// ErrTooLarge is returned by CreateAuthRequest when the sealed request would
// exceed storage.MaxAuthRequestIDLen.
var ErrTooLarge = errors.New("pending: authorization request too large")

// DeriveKey derives the sealing key from the cookie key, so that a key-encryption
// key rewrap does not change it.
func DeriveKey(secret [32]byte) [32]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte("signet/pending-auth-request-seal/v1"))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

// Store is a storage.Store whose pending authorization requests live sealed in
// their ids until someone signs in.
type Store struct {
	storage.Store
	aead cipher.AEAD
}

// Wrap returns s with pending requests sealed under key.
func Wrap(s storage.Store, key [32]byte) *Store {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return &Store{Store: s, aead: aead}
}

// Unwrap returns the wrapped store (for optional capabilities such as Backupper).
func (s *Store) Unwrap() storage.Store { return s.Store }

// IsSealed reports whether id is a sealed (never stored) request id.
func IsSealed(id string) bool { return strings.HasPrefix(id, prefix) }

// storedKey is the key under which a sealed request is stored once it is
// updated: short, and as hard to guess as the sealed id it comes from. It is
// derived from the sealed bytes, not the id's text, so that no other spelling
// of the same bytes can store the request a second time.
func storedKey(sealed []byte) string {
	sum := sha256.Sum256(sealed)
	return "p" + base64.RawURLEncoding.EncodeToString(sum[:18])
}

// b64 decodes ids strictly: one spelling per sealed request (no padding bits
// set, no line breaks skipped).
var b64 = base64.RawURLEncoding.Strict()

// pristine reports whether a carries no sign-in state: nothing that could only
// come from someone who signed in.
func pristine(a *storage.AuthRequest) bool {
	return a.ClientID != "" && !a.Done && a.UserID == "" && a.FirstFactorUserID == "" &&
		a.ConsentSID == "" && len(a.CodeHash) == 0
}

// CreateAuthRequest seals a request that nobody has signed in to into a.ID and
// stores nothing; any other request is stored as it is.
func (s *Store) CreateAuthRequest(ctx context.Context, a *storage.AuthRequest) error {
	if !pristine(a) {
		return s.Store.CreateAuthRequest(ctx, a)
	}
	id, err := s.seal(a)
	if err != nil {
		return err
	}
	a.ID = id
	return nil
}

func (s *Store) seal(a *storage.AuthRequest) (string, error) {
	c := *a
	c.ID = ""
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return "", fmt.Errorf("pending: encode: %w", err)
	}
	plain := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	out := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(out)
	out = s.aead.Seal(out, out, plain, aad)
	id := prefix + b64.EncodeToString(out)
	if len(id) > storage.MaxAuthRequestIDLen {
		return "", ErrTooLarge
	}
	return id, nil
}

// open returns the request sealed in id, with ID set to id, and the key it is
// stored under once updated.
func (s *Store) open(id string) (*storage.AuthRequest, string, error) {
	notFound := fmt.Errorf("pending: auth request: %w", storage.ErrNotFound)
	if len(id) > storage.MaxAuthRequestIDLen || strings.ContainsAny(id, "\r\n") {
		return nil, "", notFound
	}
	raw, err := b64.DecodeString(strings.TrimPrefix(id, prefix))
	ns := s.aead.NonceSize()
	if err != nil || len(raw) < ns+s.aead.Overhead() {
		return nil, "", notFound
	}
	plain, err := s.aead.Open(nil, raw[:ns], raw[ns:], aad)
	if err != nil {
		return nil, "", notFound
	}
	a := new(storage.AuthRequest)
	if err := json.Unmarshal(plain, a); err != nil {
		return nil, "", notFound
	}
	a.ID = id
	return a, storedKey(raw), nil
}

// GetAuthRequest returns the stored record of a sealed id once there is one, the
// sealed request before; other ids pass through.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (*storage.AuthRequest, error) {
	if !IsSealed(id) {
		return s.Store.GetAuthRequest(ctx, id)
	}
	sealed, key, err := s.open(id)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.GetAuthRequest(ctx, key)
	switch {
	case err == nil:
		a.ID = id
		return a, nil
	case errors.Is(err, storage.ErrNotFound):
		return sealed, nil
	default:
		return nil, err
	}
}

// UpdateAuthRequest updates the stored record of a sealed id, storing it first
// when this is its first update; fn always sees the sealed id as ID. Nothing is
// stored when fn fails.
func (s *Store) UpdateAuthRequest(ctx context.Context, id string, fn func(*storage.AuthRequest) error) (*storage.AuthRequest, error) {
	if !IsSealed(id) {
		return s.Store.UpdateAuthRequest(ctx, id, fn)
	}
	sealed, key, err := s.open(id)
	if err != nil {
		return nil, err
	}
	for range 2 {
		called := false
		a, err := s.Store.UpdateAuthRequest(ctx, key, func(a *storage.AuthRequest) error {
			called = true
			a.ID = id
			if err := fn(a); err != nil {
				return err
			}
			if a.ID != id {
				return fmt.Errorf("pending: update changed the id: %w", storage.ErrConflict)
			}
			a.ID = key
			return nil
		})
		if called || !errors.Is(err, storage.ErrNotFound) {
			if a != nil {
				a.ID = id
			}
			return a, err
		}
		// The first update: apply fn to the sealed request and store the result.
		a = cloneRequest(sealed)
		if err := fn(a); err != nil {
			return nil, err
		}
		if a.ID != id || len(a.CodeHash) > 0 || a.CodeUsed || a.IssuedAccessTokenID != "" || a.IssuedRefreshFamilyID != "" {
			return nil, fmt.Errorf("pending: update changed the id, code or issued tokens: %w", storage.ErrConflict)
		}
		a.ID = key
		err = s.Store.CreateAuthRequest(ctx, a)
		if err == nil {
			a.ID = id
			return a, nil
		}
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return nil, err
		}
		// Another request stored it meanwhile: update that record instead.
	}
	return nil, fmt.Errorf("pending: update auth request: %w", storage.ErrConflict)
}

// DeleteAuthRequest deletes the stored record of a sealed id, if there is one.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	if !IsSealed(id) {
		return s.Store.DeleteAuthRequest(ctx, id)
	}
	_, key, err := s.open(id)
	if err != nil {
		return err
	}
	return s.Store.DeleteAuthRequest(ctx, key)
}

// IssueCode attaches a code to the stored record of a sealed id (a request is
// stored before it can be done).
func (s *Store) IssueCode(ctx context.Context, id string, codeHash []byte, expiresAt time.Time) error {
	if IsSealed(id) {
		_, key, err := s.open(id)
		if err != nil {
			return err
		}
		id = key
	}
	return s.Store.IssueCode(ctx, id, codeHash, expiresAt)
}

func cloneRequest(a *storage.AuthRequest) *storage.AuthRequest {
	c := *a
	c.Scopes = slices.Clone(a.Scopes)
	c.Prompt = slices.Clone(a.Prompt)
	c.ACRValues = slices.Clone(a.ACRValues)
	c.UILocales = slices.Clone(a.UILocales)
	c.AMR = slices.Clone(a.AMR)
	c.GrantedScopes = slices.Clone(a.GrantedScopes)
	return &c
}
