package boltstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// RedeemCode marks the code used and stores what it issues in one transaction: the
// access token and, when family is not nil, the family with its first refresh token
// rt. The backend sets rt.FamilyID, and at.RefreshFamilyID when it is empty, to
// family.ID, so that revoking the family also revokes the first access token. A code
// already used returns storage.ErrReused after the transaction has committed the
// revocation of the access token and family its first redemption issued; an unknown
// code returns storage.ErrNotFound.
func (s *Store) RedeemCode(ctx context.Context, codeHash []byte, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken) error {
	switch {
	case at == nil:
		return errors.New("boltstore: redeem code: no access token")
	case (family == nil) != (rt == nil):
		return errors.New("boltstore: redeem code: a refresh family and its first refresh token go together")
	}
	if family != nil {
		rt.FamilyID = family.ID
		if at.RefreshFamilyID == "" {
			at.RefreshFamilyID = family.ID
		}
	}
	var id string
	var reused bool
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		id, reused = "", false // batch may run this more than once
		a, err := getAuthRequestByCode(tx, codeHash)
		if err != nil {
			return refuse(err)
		}
		id = a.ID
		if a.CodeUsed {
			reused = true
			return revokeIssued(tx, a)
		}
		a.CodeUsed = true
		a.IssuedAccessTokenID = at.ID
		if at.JWT {
			// No record: a replay revokes it by its jti, until its expiry.
			a.IssuedAccessTokenExpiresAt = at.ExpiresAt
		}
		if family != nil {
			a.IssuedRefreshFamilyID = family.ID
		}
		if err := putIssued(tx, at, family, rt, a.SessionSID, a.ClientID, a.SessionExpiresAt); err != nil {
			return err
		}
		return setAuthRequest(tx, a.ID, a)
	})
	if err != nil && id == "" {
		return fmt.Errorf("boltstore: redeem code: %w", err)
	}
	if err != nil {
		return fmt.Errorf("boltstore: redeem code of auth request %q: %w", id, err)
	}
	if reused {
		return fmt.Errorf("boltstore: redeem code of auth request %q: %w", id, storage.ErrReused)
	}
	return nil
}

// revokeIssued revokes what a code's first redemption issued, as far as it still
// exists.
func revokeIssued(tx *bolt.Tx, a *storage.AuthRequest) error {
	switch {
	case a.IssuedAccessTokenID != "" && !a.IssuedAccessTokenExpiresAt.IsZero():
		if err := revokeJWT(tx, a.IssuedAccessTokenID, a.IssuedAccessTokenExpiresAt); err != nil {
			return err
		}
	case a.IssuedAccessTokenID != "":
		if err := revokeAccessToken(tx, a.IssuedAccessTokenID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	if a.IssuedRefreshFamilyID != "" {
		f, err := getFamily(tx, a.IssuedRefreshFamilyID)
		if err != nil {
			return err
		}
		if f != nil {
			return revokeFamily(tx, f)
		}
	}
	return nil
}

// CreateAccessToken stores the token; it returns storage.ErrAlreadyExists when the id
// is taken.
func (s *Store) CreateAccessToken(ctx context.Context, at *storage.AccessToken) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return putAccessToken(tx, at) })
	if err != nil {
		return fmt.Errorf("boltstore: create access token %q: %w", at.ID, err)
	}
	return nil
}

// putAccessToken stores a new access token with its index entries. A token linked
// to a family that is already revoked is stored revoked, so that it stays revoked
// after the family has expired and been deleted.
func putAccessToken(tx *bolt.Tx, at *storage.AccessToken) error {
	if exists(tx, bucketAccessTokens, at.ID) {
		return fmt.Errorf("access token %q: %w", at.ID, storage.ErrAlreadyExists)
	}
	record := at
	if at.RefreshFamilyID != "" {
		if err := checkKey(at.RefreshFamilyID); err != nil {
			return fmt.Errorf("refresh family id: %w", err)
		}
		f, err := getFamily(tx, at.RefreshFamilyID)
		if err != nil {
			return err
		}
		if f != nil && f.Revoked && !at.Revoked {
			revoked := *at
			revoked.Revoked = true
			record = &revoked
		}
		if err := tx.Bucket(bucketFamilyMembers).Put(memberKey(at.RefreshFamilyID, kindAccessToken, at.ID), emptyValue); err != nil {
			return err
		}
	}
	if err := put(tx, bucketAccessTokens, at.ID, record); err != nil {
		return err
	}
	return putExpiry(tx, at.ExpiresAt, kindAccessToken, at.ID)
}

// GetAccessToken returns the token, or storage.ErrNotFound. Revoked is true when the
// token or its refresh family was revoked.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	var at *storage.AccessToken
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if at, err = get[storage.AccessToken](tx, bucketAccessTokens, id); err != nil {
			return err
		}
		if at == nil {
			return storage.ErrNotFound
		}
		if at.Revoked || at.RefreshFamilyID == "" {
			return nil
		}
		f, err := getFamily(tx, at.RefreshFamilyID)
		if f != nil && f.Revoked {
			at.Revoked = true
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get access token %q: %w", id, err)
	}
	return at, nil
}

// RevokeAccessToken marks the token revoked, or returns storage.ErrNotFound.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return revokeAccessToken(tx, id) })
	if err != nil {
		return fmt.Errorf("boltstore: revoke access token %q: %w", id, err)
	}
	return nil
}

func revokeAccessToken(tx *bolt.Tx, id string) error {
	at, err := get[storage.AccessToken](tx, bucketAccessTokens, id)
	if err != nil {
		return err
	}
	if at == nil {
		return storage.ErrNotFound
	}
	if at.Revoked {
		return nil
	}
	at.Revoked = true
	return put(tx, bucketAccessTokens, id, at)
}

// deleteAccessToken removes the token and its index entries; it reports whether the
// token existed.
func deleteAccessToken(tx *bolt.Tx, id string) (bool, error) {
	at, err := get[storage.AccessToken](tx, bucketAccessTokens, id)
	if err != nil || at == nil {
		return false, err
	}
	if at.RefreshFamilyID != "" {
		if err := tx.Bucket(bucketFamilyMembers).Delete(memberKey(at.RefreshFamilyID, kindAccessToken, id)); err != nil {
			return false, err
		}
	}
	if err := deleteExpiry(tx, at.ExpiresAt, kindAccessToken, id); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketAccessTokens).Delete([]byte(id))
}

// RevokeJWT puts jti on the revoked list until expiresAt.
func (s *Store) RevokeJWT(ctx context.Context, jti string, expiresAt time.Time) error {
	err := s.update(ctx, func(tx *bolt.Tx) error { return revokeJWT(tx, jti, expiresAt) })
	if err != nil {
		return fmt.Errorf("boltstore: revoke jwt %q: %w", jti, err)
	}
	return nil
}

// revokeJWT lists jti with an expiry entry, so that the janitor drops it once
// the token has expired. A jti already listed keeps its entry: a token's exp
// does not change.
func revokeJWT(tx *bolt.Tx, jti string, expiresAt time.Time) error {
	if err := checkKey(jti); err != nil {
		return err
	}
	b := tx.Bucket(bucketRevokedJTIs)
	if b.Get([]byte(jti)) != nil {
		return nil
	}
	if err := b.Put([]byte(jti), emptyValue); err != nil {
		return err
	}
	return putExpiry(tx, expiresAt, kindRevokedJTI, jti)
}

// JWTRevoked reports whether jti is on the revoked list.
func (s *Store) JWTRevoked(ctx context.Context, jti string) (bool, error) {
	var revoked bool
	err := s.view(ctx, func(tx *bolt.Tx) error {
		revoked = jti != "" && tx.Bucket(bucketRevokedJTIs).Get([]byte(jti)) != nil
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("boltstore: jwt revoked %q: %w", jti, err)
	}
	return revoked, nil
}

// deleteRevokedJTI drops an expired entry of the revoked list; the expiry
// entry is the janitor's to delete.
func deleteRevokedJTI(tx *bolt.Tx, jti string) (bool, error) {
	b := tx.Bucket(bucketRevokedJTIs)
	if b.Get([]byte(jti)) == nil {
		return false, nil
	}
	return true, b.Delete([]byte(jti))
}

// GetRefreshToken returns the token, rotated or not, or storage.ErrNotFound. It does
// not look at the family: callers check it with GetRefreshFamily.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*storage.RefreshToken, error) {
	var rt *storage.RefreshToken
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		rt, err = getRefreshToken(tx, hash)
		if err == nil && rt == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get refresh token: %w", err)
	}
	return rt, nil
}

// putRefreshToken stores a new refresh token with its index entries.
func putRefreshToken(tx *bolt.Tx, rt *storage.RefreshToken) error {
	if exists(tx, bucketRefreshTokens, rt.Hash) {
		return fmt.Errorf("refresh token: %w", storage.ErrAlreadyExists)
	}
	if err := checkKey(rt.FamilyID); err != nil {
		return fmt.Errorf("refresh token family id: %w", err)
	}
	if err := setRefreshToken(tx, rt); err != nil {
		return err
	}
	if err := tx.Bucket(bucketFamilyMembers).Put(memberKey(rt.FamilyID, kindRefreshToken, rt.Hash), emptyValue); err != nil {
		return err
	}
	return putExpiry(tx, rt.ExpiresAt, kindRefreshToken, rt.Hash)
}

// deleteRefreshToken removes the token and its index entries; it reports whether the
// token existed.
func deleteRefreshToken(tx *bolt.Tx, hash string) (bool, error) {
	rt, err := getRefreshToken(tx, hash)
	if err != nil || rt == nil {
		return false, err
	}
	if err := tx.Bucket(bucketFamilyMembers).Delete(memberKey(rt.FamilyID, kindRefreshToken, hash)); err != nil {
		return false, err
	}
	if err := deleteExpiry(tx, rt.ExpiresAt, kindRefreshToken, hash); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketRefreshTokens).Delete([]byte(hash))
}

// GetRefreshFamily returns the family, revoked or not, or storage.ErrNotFound.
func (s *Store) GetRefreshFamily(ctx context.Context, id string) (*storage.RefreshFamily, error) {
	var f *storage.RefreshFamily
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		f, err = getFamily(tx, id)
		if err == nil && f == nil {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get refresh family %q: %w", id, err)
	}
	return f, nil
}

// putFamily stores a new family with its index entries.
func putFamily(tx *bolt.Tx, f *storage.RefreshFamily) error {
	if exists(tx, bucketFamilies, f.ID) {
		return fmt.Errorf("refresh family %q: %w", f.ID, storage.ErrAlreadyExists)
	}
	if err := setFamily(tx, f); err != nil {
		return err
	}
	if f.UserID != "" {
		if err := checkKey(f.UserID); err != nil {
			return fmt.Errorf("refresh family user id: %w", err)
		}
		if err := tx.Bucket(bucketUserFamilies).Put(indexKey(f.UserID, f.ID), emptyValue); err != nil {
			return err
		}
	}
	return putExpiry(tx, familyExpiry(f), kindFamily, f.ID)
}

// familyExpiry is when the janitor may delete the family: ExpiresAt, or
// KeepUntil when later (its JWT access tokens still name it).
func familyExpiry(f *storage.RefreshFamily) time.Time {
	if f.KeepUntil.After(f.ExpiresAt) {
		return f.KeepUntil
	}
	return f.ExpiresAt
}

// deleteFamily removes the family, its refresh tokens and its index entries; it
// reports whether the family existed. Access tokens it issued stay, with their
// member index entries, until their own expiry; revokeFamily marked each of them
// revoked if the family was.
func deleteFamily(tx *bolt.Tx, id string) (bool, error) {
	f, err := getFamily(tx, id)
	if err != nil || f == nil {
		return false, err
	}
	for _, hash := range members(tx, bucketFamilyMembers, memberKey(id, kindRefreshToken, "")) {
		if _, err := deleteRefreshToken(tx, hash); err != nil {
			return false, err
		}
	}
	if f.UserID != "" {
		if err := tx.Bucket(bucketUserFamilies).Delete(indexKey(f.UserID, id)); err != nil {
			return false, err
		}
	}
	if err := deleteExpiry(tx, familyExpiry(f), kindFamily, id); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketFamilies).Delete([]byte(id))
}

// revokeFamily marks the family and every access token linked to it revoked. Its
// refresh tokens need no mark: rotation refuses every token of a revoked family.
// Access tokens are marked one by one so that they stay revoked after the family
// itself has expired and been deleted.
func revokeFamily(tx *bolt.Tx, f *storage.RefreshFamily) error {
	f.Revoked = true
	if err := setFamily(tx, f); err != nil {
		return err
	}
	for _, id := range members(tx, bucketFamilyMembers, memberKey(f.ID, kindAccessToken, "")) {
		if err := revokeAccessToken(tx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}

// RotateRefreshToken exchanges r.OldHash for r.Next (and r.Access) in one transaction
// and returns the family. It sets r.Next.FamilyID and r.Access.RefreshFamilyID from
// the old token.
//
// It returns storage.ErrNotFound when the old token is unknown, idle-expired, its
// family has passed its absolute lifetime, or the family is revoked. A token already
// rotated may be exchanged once more within r.Grace of its rotation (a lost
// response): its successor is then marked rotated, with no grace of its own, so only
// the newest token works. Otherwise the presentation is a reuse: the family and its
// access tokens are revoked, that revocation is committed, and the call returns
// storage.ErrReused.
func (s *Store) RotateRefreshToken(ctx context.Context, r storage.Rotation) (*storage.RefreshFamily, error) {
	if r.Next == nil {
		return nil, errors.New("boltstore: rotate refresh token: no successor token")
	}
	var fam *storage.RefreshFamily
	var reused bool
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		fam, reused = nil, false // batch may run this more than once
		old, err := getRefreshToken(tx, r.OldHash)
		if err != nil {
			return refuse(err)
		}
		if old == nil {
			return refuse(storage.ErrNotFound)
		}
		f, err := getFamily(tx, old.FamilyID)
		// Nothing is written before these checks: a refusal leaves the shared
		// transaction to the other writers.
		switch {
		case err != nil:
			return refuse(err)
		case f == nil:
			return refuse(fmt.Errorf("family %q: %w", old.FamilyID, storage.ErrNotFound))
		case f.Revoked:
			return refuse(fmt.Errorf("family %q revoked: %w", f.ID, storage.ErrNotFound))
		case old.Expired(r.Now):
			return refuse(fmt.Errorf("token expired: %w", storage.ErrNotFound))
		case f.Expired(r.Now):
			return refuse(fmt.Errorf("family %q expired: %w", f.ID, storage.ErrNotFound))
		}
		fam = f
		switch {
		case old.RotatedAt.IsZero():
			old.RotatedAt = r.Now
		case r.Grace > 0 && !old.GraceUsed && r.Now.Sub(old.RotatedAt) <= r.Grace:
			old.GraceUsed = true
			if err := supersede(tx, f.ID, old.Hash, r); err != nil {
				return err
			}
		default:
			reused = true
			return revokeFamily(tx, f)
		}
		if err := setRefreshToken(tx, old); err != nil {
			return err
		}
		r.Next.FamilyID = f.ID
		if err := putRefreshToken(tx, r.Next); err != nil {
			return err
		}
		if r.Access != nil {
			r.Access.RefreshFamilyID = f.ID
			if !r.Access.JWT {
				if err := putAccessToken(tx, r.Access); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: rotate refresh token: %w", err)
	}
	if reused {
		return nil, fmt.Errorf("boltstore: rotate refresh token of family %q: %w", fam.ID, storage.ErrReused)
	}
	return fam, nil
}

// supersede marks every unrotated token of the family but the presented one as
// rotated at r.Now with its grace used, when a grace re-exchange replaces them.
func supersede(tx *bolt.Tx, familyID, presented string, r storage.Rotation) error {
	for _, hash := range members(tx, bucketFamilyMembers, memberKey(familyID, kindRefreshToken, "")) {
		if hash == presented {
			continue
		}
		rt, err := getRefreshToken(tx, hash)
		if err != nil {
			return err
		}
		if rt == nil || !rt.RotatedAt.IsZero() {
			continue
		}
		rt.RotatedAt, rt.GraceUsed = r.Now, true
		if err := setRefreshToken(tx, rt); err != nil {
			return err
		}
	}
	return nil
}

// RevokeRefreshFamily revokes the family and every access token linked to it, or
// returns storage.ErrNotFound.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		f, err := getFamily(tx, id)
		if err != nil {
			return err
		}
		if f == nil {
			return storage.ErrNotFound
		}
		return revokeFamily(tx, f)
	})
	if err != nil {
		return fmt.Errorf("boltstore: revoke refresh family %q: %w", id, err)
	}
	return nil
}

// ListUserFamilies returns the user's refresh families, revoked ones included,
// ordered by id.
func (s *Store) ListUserFamilies(ctx context.Context, userID string) ([]*storage.RefreshFamily, error) {
	var out []*storage.RefreshFamily
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if userID == "" {
			return nil
		}
		for _, id := range members(tx, bucketUserFamilies, prefixKey(userID)) {
			f, err := getFamily(tx, id)
			if err != nil {
				return err
			}
			if f == nil {
				return fmt.Errorf("family %q: index without record", id)
			}
			out = append(out, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list refresh families of user %q: %w", userID, err)
	}
	return out, nil
}

// putIssued writes what a redeemed grant (a code, a device code) issues, in
// the redeeming transaction: the refresh family and its first token, the
// access token's record when it is opaque (a JWT has none), and the session's
// client, so that back-channel logout reaches every client that received
// tokens in the session (one commit, one sync).
func putIssued(tx *bolt.Tx, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken, sid, clientID string, sessionExpiresAt time.Time) error {
	if family != nil {
		if err := putFamily(tx, family); err != nil {
			return err
		}
		if err := putRefreshToken(tx, rt); err != nil {
			return err
		}
	}
	if !at.JWT {
		if err := putAccessToken(tx, at); err != nil {
			return err
		}
	}
	if sid != "" && !sessionExpiresAt.IsZero() {
		return putSessionClient(tx, sid, clientID, sessionExpiresAt)
	}
	return nil
}
