package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// The records written on every token answer (a refresh token and its family:
// each rotation reads both twice and writes two tokens) are stored in a compact
// binary form instead of JSON: encoding/json of these records was about 8 % of
// the server's CPU per refresh, much of it on the committing goroutine that
// every answer waits for. Every other record stays JSON.
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

// getRefreshToken reads the token at hash, in either form; nil, nil when there
// is none.
func getRefreshToken(tx *bolt.Tx, hash string) (*storage.RefreshToken, error) {
	data := tx.Bucket(bucketRefreshTokens).Get([]byte(hash))
	switch {
	case data == nil:
		return nil, nil
	case data[0] == binaryV1:
		rt, err := decodeRefreshToken(data)
		if err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", bucketRefreshTokens, hash, err)
		}
		return rt, nil
	}
	return get[storage.RefreshToken](tx, bucketRefreshTokens, hash)
}

// setRefreshToken writes rt in the binary form (index entries are the caller's).
func setRefreshToken(tx *bolt.Tx, rt *storage.RefreshToken) error {
	if err := checkKey(rt.Hash); err != nil {
		return err
	}
	return tx.Bucket(bucketRefreshTokens).Put([]byte(rt.Hash), encodeRefreshToken(rt))
}

// getFamily reads the family id, in either form; nil, nil when there is none.
func getFamily(tx *bolt.Tx, id string) (*storage.RefreshFamily, error) {
	data := tx.Bucket(bucketFamilies).Get([]byte(id))
	switch {
	case data == nil:
		return nil, nil
	case data[0] == binaryV1:
		f, err := decodeFamily(data)
		if err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", bucketFamilies, id, err)
		}
		return f, nil
	}
	return get[storage.RefreshFamily](tx, bucketFamilies, id)
}

// setFamily writes f in the binary form (index entries are the caller's).
func setFamily(tx *bolt.Tx, f *storage.RefreshFamily) error {
	if err := checkKey(f.ID); err != nil {
		return err
	}
	return tx.Bucket(bucketFamilies).Put([]byte(f.ID), encodeFamily(f))
}
