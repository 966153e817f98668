package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// The records written on every token answer (a refresh token and its family:
// each rotation reads both twice and writes two tokens; the auth request a code
// exchange reads twice and rewrites) are stored in a compact binary form
// instead of JSON: encoding/json of these records was about 8 % of the
// server's CPU per refresh, much of it on the committing goroutine that every
// answer waits for. Every other record stays JSON.
//
// The first byte tells the forms apart: JSON starts with '{', the binary form
// with its version. Records written as JSON before schema 2 are still read.
const binaryV1 byte = 1

var errTruncated = errors.New("truncated record")

// enc appends a record's fields.
type enc []byte

func (e enc) str(s string) enc {
	return append(binary.AppendUvarint(e, uint64(len(s))), s...)
}

// strs keeps nil and empty apart, as JSON does (null and []).
func (e enc) strs(v []string) enc {
	if v == nil {
		return binary.AppendUvarint(e, 0)
	}
	e = binary.AppendUvarint(e, uint64(len(v))+1)
	for _, s := range v {
		e = e.str(s)
	}
	return e
}

// time keeps what JSON keeps: the instant and the zone's offset.
func (e enc) time(t time.Time) enc {
	b, err := t.AppendBinary(append(e, 0))
	if err != nil {
		// Only a year outside [-32768, 32767] or an offset that is not whole
		// minutes fails; no time Signet stores is either.
		panic(fmt.Sprintf("boltstore: encode time %v: %v", t, err))
	}
	b[len(e)] = byte(len(b) - len(e) - 1)
	return b
}

// bytes keeps nil and empty apart, as JSON does (null and "").
func (e enc) bytes(b []byte) enc {
	if b == nil {
		return binary.AppendUvarint(e, 0)
	}
	return append(binary.AppendUvarint(e, uint64(len(b))+1), b...)
}

func (e enc) int(v int64) enc { return binary.AppendVarint(e, v) }

func (e enc) flags(bits ...bool) enc {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	return append(e, f)
}

// dec reads a record's fields in the order enc wrote them; the first error
// sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.err = errTruncated
		return ""
	}
	s := string(d.b[:n]) // a copy: bbolt's bytes live only as long as the transaction
	d.b = d.b[n:]
	return s
}

func (d *dec) strs() []string {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n-1 > uint64(len(d.b)) { // each string takes at least one byte
		d.err = errTruncated
		return nil
	}
	v := make([]string, n-1)
	for i := range v {
		v[i] = d.str()
	}
	return v
}

func (d *dec) bytes() []byte {
	n := d.uvarint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n-1 > uint64(len(d.b)) {
		d.err = errTruncated
		return nil
	}
	b := make([]byte, n-1) // a copy, as str's
	copy(b, d.b)
	d.b = d.b[n-1:]
	return b
}

func (d *dec) int() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errTruncated
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) time() time.Time {
	if d.err != nil {
		return time.Time{}
	}
	if len(d.b) == 0 || int(d.b[0]) >= len(d.b) {
		d.err = errTruncated
		return time.Time{}
	}
	n := int(d.b[0])
	var t time.Time
	if err := t.UnmarshalBinary(d.b[1 : 1+n]); err != nil {
		d.err = err
	}
	d.b = d.b[1+n:]
	return t
}

func (d *dec) flags() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.err = errTruncated
		return 0
	}
	f := d.b[0]
	d.b = d.b[1:]
	return f
}

func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes in record")
	}
	return d.err
}

func encodeRefreshToken(rt *storage.RefreshToken) []byte {
	e := enc(make([]byte, 0, 96+len(rt.Hash)+len(rt.FamilyID)+len(rt.ClientID)+len(rt.UserID)))
	e = append(e, binaryV1)
	e = e.str(rt.Hash).str(rt.FamilyID).str(rt.ClientID).str(rt.UserID).strs(rt.Scopes)
	e = e.time(rt.IssuedAt).time(rt.ExpiresAt).time(rt.RotatedAt).flags(rt.GraceUsed)
	return e
}

func decodeRefreshToken(data []byte) (*storage.RefreshToken, error) {
	d := dec{b: data[1:]}
	rt := &storage.RefreshToken{
		Hash: d.str(), FamilyID: d.str(), ClientID: d.str(), UserID: d.str(), Scopes: d.strs(),
		IssuedAt: d.time(), ExpiresAt: d.time(), RotatedAt: d.time(),
	}
	rt.GraceUsed = d.flags()&1 != 0
	return rt, d.done()
}

func encodeFamily(f *storage.RefreshFamily) []byte {
	e := enc(make([]byte, 0, 160+len(f.ID)+len(f.ClientID)+len(f.UserID)+len(f.SessionSID)))
	e = append(e, binaryV1)
	e = e.str(f.ID).str(f.ClientID).str(f.UserID).strs(f.Scopes).time(f.AuthTime).strs(f.AMR).str(f.ACR).str(f.SessionSID)
	e = e.time(f.CreatedAt).time(f.ExpiresAt).time(f.KeepUntil).flags(f.Revoked, f.Offline)
	return e
}

func decodeFamily(data []byte) (*storage.RefreshFamily, error) {
	d := dec{b: data[1:]}
	f := &storage.RefreshFamily{
		ID: d.str(), ClientID: d.str(), UserID: d.str(), Scopes: d.strs(), AuthTime: d.time(), AMR: d.strs(),
		ACR: d.str(), SessionSID: d.str(), CreatedAt: d.time(), ExpiresAt: d.time(), KeepUntil: d.time(),
	}
	fl := d.flags()
	f.Revoked, f.Offline = fl&1 != 0, fl&2 != 0
	return f, d.done()
}

func encodeAuthRequest(a *storage.AuthRequest) []byte {
	e := enc(make([]byte, 0, 512+len(a.ID)+len(a.RedirectURI)+len(a.State)))
	e = append(e, binaryV1)
	e = e.str(a.ID).str(a.ClientID).str(a.RedirectURI).strs(a.Scopes).str(a.ResponseType).str(a.ResponseMode)
	e = e.str(a.State).str(a.Nonce).str(a.CodeChallenge).str(a.CodeChallengeMethod).strs(a.Prompt).int(a.MaxAge)
	e = e.str(a.IDTokenHintSubject).str(a.Resource).str(a.LoginHint).strs(a.ACRValues).strs(a.UILocales)
	e = e.time(a.CreatedAt).time(a.ExpiresAt)
	e = e.str(a.FirstFactorUserID).time(a.FirstFactorAt).str(a.FirstFactorBinding).str(a.ConsentSID)
	e = e.str(a.UserID).time(a.AuthTime).strs(a.AMR).str(a.ACR).str(a.SessionSID).time(a.SessionExpiresAt).strs(a.GrantedScopes)
	e = e.bytes(a.CodeHash).time(a.CodeExpiresAt)
	e = e.str(a.IssuedAccessTokenID).time(a.IssuedAccessTokenExpiresAt).str(a.IssuedRefreshFamilyID)
	return e.flags(a.Done, a.CodeUsed)
}

func decodeAuthRequest(data []byte) (*storage.AuthRequest, error) {
	d := dec{b: data[1:]}
	a := &storage.AuthRequest{
		ID: d.str(), ClientID: d.str(), RedirectURI: d.str(), Scopes: d.strs(), ResponseType: d.str(), ResponseMode: d.str(),
		State: d.str(), Nonce: d.str(), CodeChallenge: d.str(), CodeChallengeMethod: d.str(), Prompt: d.strs(), MaxAge: d.int(),
		IDTokenHintSubject: d.str(), Resource: d.str(), LoginHint: d.str(), ACRValues: d.strs(), UILocales: d.strs(),
		CreatedAt: d.time(), ExpiresAt: d.time(),
		FirstFactorUserID: d.str(), FirstFactorAt: d.time(), FirstFactorBinding: d.str(), ConsentSID: d.str(),
		UserID: d.str(), AuthTime: d.time(), AMR: d.strs(), ACR: d.str(), SessionSID: d.str(), SessionExpiresAt: d.time(), GrantedScopes: d.strs(),
		CodeHash: d.bytes(), CodeExpiresAt: d.time(),
		IssuedAccessTokenID: d.str(), IssuedAccessTokenExpiresAt: d.time(), IssuedRefreshFamilyID: d.str(),
	}
	fl := d.flags()
	a.Done, a.CodeUsed = fl&1 != 0, fl&2 != 0
	return a, d.done()
}

// getRecord reads the record at key of bucket, in either form; nil, nil when
// there is none.
func getRecord[T any](tx *bolt.Tx, bucket []byte, key string, decode func([]byte) (*T, error)) (*T, error) {
	data := tx.Bucket(bucket).Get([]byte(key))
	switch {
	case data == nil:
		return nil, nil
	case len(data) == 0:
		// A key with an empty value (a damaged file) is not a record: an
		// error, never an index out of range.
		return nil, fmt.Errorf("decode %s %q: %w", bucket, key, errTruncated)
	case data[0] == binaryV1:
		v, err := decode(data)
		if err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", bucket, key, err)
		}
		return v, nil
	}
	return get[T](tx, bucket, key)
}

// listRecords decodes every record of bucket, in either form, in key order. A
// bucket the file lacks (opened read-only) holds nothing.
func listRecords[T any](tx *bolt.Tx, bucket []byte, decode func([]byte) (*T, error)) ([]*T, error) {
	var out []*T
	err := forEach(tx, bucket, func(k, data []byte) error {
		var v *T
		var err error
		if len(data) > 0 && data[0] == binaryV1 {
			v, err = decode(data)
		} else {
			v = new(T)
			err = json.Unmarshal(data, v)
		}
		if err != nil {
			return fmt.Errorf("decode %s %q: %w", bucket, k, err)
		}
		out = append(out, v)
		return nil
	})
	return out, err
}

// setRecord writes an encoded record (index entries are the caller's).
func setRecord(tx *bolt.Tx, bucket []byte, key string, data []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), data)
}

func getRefreshToken(tx *bolt.Tx, hash string) (*storage.RefreshToken, error) {
	return getRecord(tx, bucketRefreshTokens, hash, decodeRefreshToken)
}

func setRefreshToken(tx *bolt.Tx, rt *storage.RefreshToken) error {
	return setRecord(tx, bucketRefreshTokens, rt.Hash, encodeRefreshToken(rt))
}

func getFamily(tx *bolt.Tx, id string) (*storage.RefreshFamily, error) {
	return getRecord(tx, bucketFamilies, id, decodeFamily)
}

func setFamily(tx *bolt.Tx, f *storage.RefreshFamily) error {
	return setRecord(tx, bucketFamilies, f.ID, encodeFamily(f))
}

func setAuthRequest(tx *bolt.Tx, id string, a *storage.AuthRequest) error {
	return setRecord(tx, bucketAuthRequests, id, encodeAuthRequest(a))
}
