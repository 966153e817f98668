package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// RedeemCode marks the code used and stores what it issues, in one transaction
// that holds the auth request's row lock from the look-up to the commit: of
// redemptions racing on any number of replicas, the first to lock the row wins
// and each later one finds the code used. It sets rt.FamilyID, and
// at.RefreshFamilyID when empty, to family.ID. A used code revokes what its
// first redemption issued, commits that, and returns storage.ErrReused; an
// unknown code returns storage.ErrNotFound. A redemption that cannot store what
// it issues (a taken id) rolls back and leaves the code unused.
func (s *Store) RedeemCode(ctx context.Context, codeHash []byte, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken) error {
	switch {
	case at == nil:
		return errors.New("postgres: redeem code: no access token")
	case (family == nil) != (rt == nil):
		return errors.New("postgres: redeem code: a refresh family and its first refresh token go together")
	case len(codeHash) == 0 || len(codeHash) > maxKeyLen:
		return fmt.Errorf("postgres: redeem code: %w", storage.ErrNotFound)
	}
	if family != nil {
		rt.FamilyID = family.ID
		if at.RefreshFamilyID == "" {
			at.RefreshFamilyID = family.ID
		}
	}
	var id string
	var reused bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		id, reused = "", false // tx may run this more than once
		a, err := getJSON[storage.AuthRequest](ctx, tx,
			"SELECT data FROM auth_requests WHERE code_hash = $1 FOR NO KEY UPDATE", codeHash)
		if err != nil {
			return err
		}
		id = a.ID
		if a.CodeUsed {
			reused = true
			return revokeIssued(ctx, tx, a)
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
		if err := insertIssued(ctx, tx, at, family, rt, a.SessionSID, a.ClientID, a.SessionExpiresAt); err != nil {
			return err
		}
		return putAuthRequest(ctx, tx, a)
	})
	switch {
	case err != nil && id == "":
		return fmt.Errorf("postgres: redeem code: %w", err)
	case err != nil:
		return fmt.Errorf("postgres: redeem code of auth request %q: %w", id, err)
	case reused:
		return fmt.Errorf("postgres: redeem code of auth request %q: %w", id, storage.ErrReused)
	}
	return nil
}

// revokeIssued revokes what a code's first redemption issued, as far as it
// still exists.
func revokeIssued(ctx context.Context, tx pgx.Tx, a *storage.AuthRequest) error {
	switch {
	case a.IssuedAccessTokenID != "" && !a.IssuedAccessTokenExpiresAt.IsZero():
		if err := revokeJWT(ctx, tx, a.IssuedAccessTokenID, a.IssuedAccessTokenExpiresAt); err != nil {
			return err
		}
	case a.IssuedAccessTokenID != "":
		if _, err := tx.Exec(ctx, "UPDATE access_tokens SET revoked = true WHERE id = $1", a.IssuedAccessTokenID); err != nil {
			return err
		}
	}
	if a.IssuedRefreshFamilyID != "" {
		return revokeFamily(ctx, tx, a.IssuedRefreshFamilyID)
	}
	return nil
}

// accessRecord is an access token's JSON: Revoked lives in its own column
// (revocation updates it without rewriting the record), so the record's copy
// is always false.
func accessRecord(at *storage.AccessToken) ([]byte, error) {
	rec := *at
	rec.Revoked = false
	return encode(&rec)
}

// CreateAccessToken stores an opaque access token's record; it returns
// storage.ErrAlreadyExists when the id is taken.
func (s *Store) CreateAccessToken(ctx context.Context, at *storage.AccessToken) error {
	err := s.tx(ctx, func(tx pgx.Tx) error { return insertAccessToken(ctx, tx, at, true) })
	if err != nil {
		return fmt.Errorf("postgres: create access token %q: %w", at.ID, err)
	}
	return nil
}

// insertAccessToken stores a new access token. A token linked to a family that
// is already revoked is stored revoked, so that it stays revoked after the
// family has expired and been deleted. With lockFamily it first takes a share
// lock on the family row, so that a revocation committing meanwhile cannot miss
// the new token; callers that hold the family's row lock already pass false.
func insertAccessToken(ctx context.Context, tx pgx.Tx, at *storage.AccessToken, lockFamily bool) error {
	if err := checkKey(at.ID); err != nil {
		return fmt.Errorf("access token id: %w", err)
	}
	revoked := at.Revoked
	var family *string
	if at.RefreshFamilyID != "" {
		if err := checkKey(at.RefreshFamilyID); err != nil {
			return fmt.Errorf("refresh family id: %w", err)
		}
		family = &at.RefreshFamilyID
		lock := ""
		if lockFamily {
			lock = " FOR SHARE"
		}
		var famRevoked bool
		err := tx.QueryRow(ctx, "SELECT revoked FROM refresh_families WHERE id = $1"+lock, at.RefreshFamilyID).Scan(&famRevoked)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		revoked = revoked || famRevoked
	}
	data, err := accessRecord(at)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO access_tokens (id, family_id, revoked, expires_at, data) VALUES ($1, $2, $3, $4, $5)",
		at.ID, family, revoked, ts(at.ExpiresAt), data)
	return mapErr(err)
}

// GetAccessToken returns the token, or storage.ErrNotFound. Revoked is true when
// the token or its refresh family was revoked.
func (s *Store) GetAccessToken(ctx context.Context, id string) (*storage.AccessToken, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: get access token: %w", storage.ErrNotFound)
	}
	var data []byte
	var revoked bool
	err := s.pool.QueryRow(ctx, `SELECT a.data, a.revoked OR coalesce(f.revoked, false)
		FROM access_tokens a LEFT JOIN refresh_families f ON f.id = a.family_id WHERE a.id = $1`, id).Scan(&data, &revoked)
	var at *storage.AccessToken
	if err == nil {
		at, err = decode[storage.AccessToken](data)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get access token %q: %w", id, mapErr(err))
	}
	at.Revoked = revoked
	return at, nil
}

// RevokeAccessToken marks the token revoked, or returns storage.ErrNotFound.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	if !lookable(id) {
		return fmt.Errorf("postgres: revoke access token: %w", storage.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE access_tokens SET revoked = true WHERE id = $1", id)
	switch {
	case err != nil:
		return fmt.Errorf("postgres: revoke access token %q: %w", id, mapErr(err))
	case tag.RowsAffected() == 0:
		return fmt.Errorf("postgres: revoke access token %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// RevokeJWT puts jti on the revoked list until expiresAt; revoking twice keeps
// the first entry (a token's exp does not change).
func (s *Store) RevokeJWT(ctx context.Context, jti string, expiresAt time.Time) error {
	if err := revokeJWT(ctx, s.pool, jti, expiresAt); err != nil {
		return fmt.Errorf("postgres: revoke jwt %q: %w", jti, mapErr(err))
	}
	return nil
}

func revokeJWT(ctx context.Context, q querier, jti string, expiresAt time.Time) error {
	if err := checkKey(jti); err != nil {
		return err
	}
	_, err := q.Exec(ctx, "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING", jti, ts(expiresAt))
	return err
}

// JWTRevoked reports whether jti is on the revoked list.
func (s *Store) JWTRevoked(ctx context.Context, jti string) (bool, error) {
	if !lookable(jti) {
		return false, nil
	}
	var revoked bool
	if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM revoked_jtis WHERE jti = $1)", jti).Scan(&revoked); err != nil {
		return false, fmt.Errorf("postgres: jwt revoked %q: %w", jti, mapErr(err))
	}
	return revoked, nil
}

// GetRefreshToken returns the token, rotated or not, or storage.ErrNotFound. It
// does not look at the family: callers check it with GetRefreshFamily.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (*storage.RefreshToken, error) {
	if !lookable(hash) {
		return nil, fmt.Errorf("postgres: get refresh token: %w", storage.ErrNotFound)
	}
	rt, err := getJSON[storage.RefreshToken](ctx, s.pool, "SELECT data FROM refresh_tokens WHERE hash = $1", hash)
	if err != nil {
		return nil, fmt.Errorf("postgres: get refresh token: %w", mapErr(err))
	}
	return rt, nil
}

func insertRefreshToken(ctx context.Context, tx pgx.Tx, rt *storage.RefreshToken) error {
	if err := checkKey(rt.Hash); err != nil {
		return fmt.Errorf("refresh token hash: %w", err)
	}
	if err := checkKey(rt.FamilyID); err != nil {
		return fmt.Errorf("refresh token family id: %w", err)
	}
	data, err := encode(rt)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO refresh_tokens (hash, family_id, rotated_at, expires_at, data) VALUES ($1, $2, $3, $4, $5)",
		rt.Hash, rt.FamilyID, rotatedColumn(rt), ts(rt.ExpiresAt), data)
	return mapErr(err)
}

// updateRefreshToken rewrites a token after a rotation changed it.
func updateRefreshToken(ctx context.Context, tx pgx.Tx, rt *storage.RefreshToken) error {
	data, err := encode(rt)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "UPDATE refresh_tokens SET rotated_at = $2, data = $3 WHERE hash = $1", rt.Hash, rotatedColumn(rt), data)
	return err
}

func rotatedColumn(rt *storage.RefreshToken) *time.Time {
	if rt.RotatedAt.IsZero() {
		return nil
	}
	t := ts(rt.RotatedAt)
	return &t
}

// familyRecord is a family's JSON; like an access token's, its Revoked lives in
// its own column.
func familyRecord(f *storage.RefreshFamily) ([]byte, error) {
	rec := *f
	rec.Revoked = false
	return encode(&rec)
}

func insertFamily(ctx context.Context, tx pgx.Tx, f *storage.RefreshFamily) error {
	if err := checkKey(f.ID); err != nil {
		return fmt.Errorf("refresh family id: %w", err)
	}
	if len(f.UserID) > maxKeyLen {
		return fmt.Errorf("refresh family user id: %w", checkKey(f.UserID))
	}
	data, err := familyRecord(f)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO refresh_families (id, user_id, revoked, delete_after, data) VALUES ($1, $2, $3, $4, $5)",
		f.ID, f.UserID, f.Revoked, ts(later(f.ExpiresAt, f.KeepUntil)), data)
	return mapErr(err)
}

// scanFamily reads the data and revoked columns of a family row.
func scanFamily(row pgx.Row) (*storage.RefreshFamily, error) {
	var data []byte
	var revoked bool
	if err := row.Scan(&data, &revoked); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, storage.ErrNotFound
		}
		return nil, err
	}
	f, err := decode[storage.RefreshFamily](data)
	if err != nil {
		return nil, err
	}
	f.Revoked = revoked
	return f, nil
}

// GetRefreshFamily returns the family, revoked or not, or storage.ErrNotFound.
func (s *Store) GetRefreshFamily(ctx context.Context, id string) (*storage.RefreshFamily, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: get refresh family: %w", storage.ErrNotFound)
	}
	f, err := scanFamily(s.pool.QueryRow(ctx, "SELECT data, revoked FROM refresh_families WHERE id = $1", id))
	if err != nil {
		return nil, fmt.Errorf("postgres: get refresh family %q: %w", id, mapErr(err))
	}
	return f, nil
}

// revokeFamily marks the family and every access token linked to it revoked.
// Its refresh tokens need no mark: rotation refuses every token of a revoked
// family. Access tokens are marked one by one so that they stay revoked after
// the family itself has expired and been deleted. A family that no longer
// exists is not an error.
func revokeFamily(ctx context.Context, tx pgx.Tx, id string) error {
	if _, err := tx.Exec(ctx, "UPDATE refresh_families SET revoked = true WHERE id = $1", id); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "UPDATE access_tokens SET revoked = true WHERE family_id = $1 AND NOT revoked", id)
	return err
}

// RotateRefreshToken exchanges r.OldHash for r.Next (and r.Access) in one
// transaction and returns the family. It sets r.Next.FamilyID and
// r.Access.RefreshFamilyID from the old token.
//
// Every change to a family's tokens happens under the family's row lock, taken
// before the token's: rotations of one family, from any replica, run one after
// another, and each sees what the previous one committed. It returns
// storage.ErrNotFound when the old token is unknown, idle-expired, its family
// has passed its absolute lifetime, or the family is revoked. A token already
// rotated may be exchanged once more within r.Grace of its rotation (a lost
// response): its successor is then marked rotated with its grace used, so only
// the newest token works. Otherwise the presentation is a reuse: the family and
// its access tokens are revoked, that is committed, and the call returns
// storage.ErrReused.
func (s *Store) RotateRefreshToken(ctx context.Context, r storage.Rotation) (*storage.RefreshFamily, error) {
	if r.Next == nil {
		return nil, errors.New("postgres: rotate refresh token: no successor token")
	}
	if !lookable(r.OldHash) {
		return nil, fmt.Errorf("postgres: rotate refresh token: %w", storage.ErrNotFound)
	}
	var fam *storage.RefreshFamily
	var reused bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		fam, reused = nil, false // tx may run this more than once
		// A token's family never changes, so it may be read before the lock.
		var familyID string
		err := tx.QueryRow(ctx, "SELECT family_id FROM refresh_tokens WHERE hash = $1", r.OldHash).Scan(&familyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		f, err := scanFamily(tx.QueryRow(ctx, "SELECT data, revoked FROM refresh_families WHERE id = $1 FOR NO KEY UPDATE", familyID))
		if err != nil {
			return fmt.Errorf("family %q: %w", familyID, err)
		}
		old, err := getJSON[storage.RefreshToken](ctx, tx, "SELECT data FROM refresh_tokens WHERE hash = $1 FOR NO KEY UPDATE", r.OldHash)
		if err != nil {
			return err // deleted by the janitor meanwhile: ErrNotFound
		}
		switch {
		case f.Revoked:
			return fmt.Errorf("family %q revoked: %w", f.ID, storage.ErrNotFound)
		case old.Expired(r.Now):
			return fmt.Errorf("token expired: %w", storage.ErrNotFound)
		case f.Expired(r.Now):
			return fmt.Errorf("family %q expired: %w", f.ID, storage.ErrNotFound)
		}
		fam = f
		switch {
		case old.RotatedAt.IsZero():
			old.RotatedAt = r.Now
		case r.Grace > 0 && !old.GraceUsed && r.Now.Sub(old.RotatedAt) <= r.Grace:
			old.GraceUsed = true
			if err := supersede(ctx, tx, f.ID, old.Hash, r.Now); err != nil {
				return err
			}
		default:
			reused = true
			return revokeFamily(ctx, tx, f.ID)
		}
		if err := updateRefreshToken(ctx, tx, old); err != nil {
			return err
		}
		r.Next.FamilyID = f.ID
		if err := insertRefreshToken(ctx, tx, r.Next); err != nil {
			return err
		}
		if r.Access != nil {
			r.Access.RefreshFamilyID = f.ID
			if !r.Access.JWT {
				// The family's row lock is held: no share lock needed.
				if err := insertAccessToken(ctx, tx, r.Access, false); err != nil {
					return err
				}
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("postgres: rotate refresh token: %w", err)
	case reused:
		return nil, fmt.Errorf("postgres: rotate refresh token of family %q: %w", fam.ID, storage.ErrReused)
	}
	return fam, nil
}

// supersede marks every unrotated token of the family but the presented one as
// rotated at now with its grace used, when a grace re-exchange replaces them.
func supersede(ctx context.Context, tx pgx.Tx, familyID, presented string, now time.Time) error {
	tokens, err := listJSON[storage.RefreshToken](ctx, tx,
		"SELECT data FROM refresh_tokens WHERE family_id = $1 AND rotated_at IS NULL AND hash <> $2 FOR NO KEY UPDATE",
		familyID, presented)
	if err != nil {
		return err
	}
	for _, rt := range tokens {
		rt.RotatedAt, rt.GraceUsed = now, true
		if err := updateRefreshToken(ctx, tx, rt); err != nil {
			return err
		}
	}
	return nil
}

// RevokeRefreshFamily revokes the family and every access token linked to it,
// or returns storage.ErrNotFound.
func (s *Store) RevokeRefreshFamily(ctx context.Context, id string) error {
	if !lookable(id) {
		return fmt.Errorf("postgres: revoke refresh family: %w", storage.ErrNotFound)
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, "SELECT 1 FROM refresh_families WHERE id = $1 FOR NO KEY UPDATE", id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return storage.ErrNotFound
		}
		if err != nil {
			return err
		}
		return revokeFamily(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("postgres: revoke refresh family %q: %w", id, err)
	}
	return nil
}

// ListUserFamilies returns the user's refresh families, revoked ones included,
// ordered by id.
func (s *Store) ListUserFamilies(ctx context.Context, userID string) ([]*storage.RefreshFamily, error) {
	if !lookable(userID) {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT data, revoked FROM refresh_families WHERE user_id = $1 ORDER BY id", userID)
	if err == nil {
		var out []*storage.RefreshFamily
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*storage.RefreshFamily, error) { return scanFamily(row) })
		if err == nil {
			return out, nil
		}
	}
	return nil, fmt.Errorf("postgres: list refresh families of user %q: %w", userID, mapErr(err))
}

// insertIssued writes what a redeemed grant (a code, a device code) issues, in
// the redeeming transaction: the refresh family and its first token, the
// access token's row when it is opaque (a JWT has none), and the session's
// client, so that back-channel logout reaches every client that received
// tokens in the session.
func insertIssued(ctx context.Context, tx pgx.Tx, at *storage.AccessToken, family *storage.RefreshFamily, rt *storage.RefreshToken, sid, clientID string, sessionExpiresAt time.Time) error {
	if family != nil {
		if err := insertFamily(ctx, tx, family); err != nil {
			return err
		}
		if err := insertRefreshToken(ctx, tx, rt); err != nil {
			return err
		}
	}
	if !at.JWT {
		if err := insertAccessToken(ctx, tx, at, false); err != nil {
			return err
		}
	}
	if sid != "" && !sessionExpiresAt.IsZero() {
		return addSessionClient(ctx, tx, sid, clientID, sessionExpiresAt)
	}
	return nil
}
