package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// durableTables are the tables Import requires empty: everything a Dump
// holds.
var durableTables = []string{"clients", "users", "groups", "apis", "grants", "signing_keys", "sessions",
	"session_clients", "refresh_families", "refresh_tokens", "access_tokens", "revoked_jtis", "logouts",
	"assertion_jtis"}

// Import copies d in one transaction, refusing (storage.ErrNotEmpty) when any
// durable table holds a row: an import never merges into a live issuer. Before
// it commits, it reads everything back in the same transaction and gives it
// to verify (when not nil): an error from the read-back or from verify rolls
// the whole copy back.
func (s *Store) Import(ctx context.Context, d *storage.Dump, verify func(*storage.Dump) error) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// Every durable table, before the check: a replica starting meanwhile
		// (which creates keys) or a CLI write waits for the import rather than
		// interleaving with it, and SHARE ROW EXCLUSIVE still lets readers in.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+strings.Join(durableTables, ", ")+" IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return err
		}
		for _, t := range durableTables {
			var any bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&any); err != nil {
				return err
			}
			if any {
				return fmt.Errorf("%w: table %s has rows", storage.ErrNotEmpty, t)
			}
		}
		put := func(what, key, sql string, v any, args ...any) error {
			data, err := encode(v)
			if err != nil {
				return fmt.Errorf("%s %q: %w", what, key, err)
			}
			if _, err := tx.Exec(ctx, sql, append(args, data)...); err != nil {
				return fmt.Errorf("%s %q: %w", what, key, mapErr(err))
			}
			return nil
		}
		for _, c := range d.Clients {
			if err := put("client", c.ID, "INSERT INTO clients (id, data) VALUES ($1, $2)", c, c.ID); err != nil {
				return err
			}
		}
		for _, u := range d.Users {
			email, err := emailKey(u.Email)
			if err != nil {
				return fmt.Errorf("user %q: %w", u.ID, err)
			}
			if err := put("user", u.ID, "INSERT INTO users (id, username, email_fold, data) VALUES ($1, $2, $3, $4)",
				u, u.ID, u.Username, email); err != nil {
				return err
			}
		}
		for _, g := range d.Groups {
			if err := put("group", g.Name, "INSERT INTO groups (name, data) VALUES ($1, $2)", g, g.Name); err != nil {
				return err
			}
		}
		for _, a := range d.APIs {
			if err := put("API", a.Audience, "INSERT INTO apis (audience, data) VALUES ($1, $2)", a, a.Audience); err != nil {
				return err
			}
		}
		for _, g := range d.Grants {
			if err := put("grant", g.UserID+"/"+g.ClientID, "INSERT INTO grants (user_id, client_id, data) VALUES ($1, $2, $3)",
				g, g.UserID, g.ClientID); err != nil {
				return err
			}
		}
		for _, k := range d.Keys {
			if err := put("signing key", k.ID, "INSERT INTO signing_keys (id, data) VALUES ($1, $2)", k, k.ID); err != nil {
				return err
			}
		}
		for _, se := range d.Sessions {
			if err := put("session", se.ID, "INSERT INTO sessions (id, user_id, last_seen, expires_at, data) VALUES ($1, $2, $3, $4, $5)",
				se, se.ID, se.UserID, ts(se.LastSeen), ts(se.ExpiresAt)); err != nil {
				return err
			}
		}
		for _, sc := range d.SessionClients {
			if err := addSessionClient(ctx, tx, sc.SID, sc.ClientID, sc.ExpiresAt); err != nil {
				return fmt.Errorf("session client %q/%q: %w", sc.SID, sc.ClientID, err)
			}
		}
		// Families before their tokens (foreign key), access tokens last (they
		// take their family's revocation).
		for _, f := range d.Families {
			if err := insertFamily(ctx, tx, f); err != nil {
				return fmt.Errorf("refresh family %q: %w", f.ID, err)
			}
		}
		for _, rt := range d.RefreshTokens {
			if err := insertRefreshToken(ctx, tx, rt); err != nil {
				return fmt.Errorf("refresh token of family %q: %w", rt.FamilyID, err)
			}
		}
		for _, at := range d.AccessTokens {
			if err := insertAccessToken(ctx, tx, at, false); err != nil {
				return fmt.Errorf("access token %q: %w", at.ID, err)
			}
		}
		for _, j := range d.RevokedJWTs {
			if err := revokeJWT(ctx, tx, j.JTI, j.ExpiresAt); err != nil {
				return fmt.Errorf("revoked JWT id %q: %w", j.JTI, err)
			}
		}
		for _, l := range d.Logouts {
			if err := put("logout notice", l.ID, "INSERT INTO logouts (id, next_attempt, expires_at, data) VALUES ($1, $2, $3, $4)",
				l, l.ID, ts(l.NextAttempt), ts(l.ExpiresAt)); err != nil {
				return err
			}
		}
		for _, a := range d.AssertionJTIs {
			if _, err := tx.Exec(ctx, "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3)",
				a.ClientID, a.JTI, ts(a.ExpiresAt)); err != nil {
				return fmt.Errorf("used assertion id %q of client %q: %w", a.JTI, a.ClientID, mapErr(err))
			}
		}
		if verify == nil {
			return nil
		}
		back, err := export(ctx, tx)
		if err != nil {
			return fmt.Errorf("read the copy back: %w", err)
		}
		return verify(back)
	})
	if err != nil {
		return fmt.Errorf("postgres: import: %w", err)
	}
	return nil
}

// Export lists every durable record in one repeatable-read transaction (one
// consistent instant).
func (s *Store) Export(ctx context.Context) (*storage.Dump, error) {
	var d *storage.Dump
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		d, err = export(ctx, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: export: %w", mapErr(err))
	}
	return d, nil
}

// export lists every durable record as tx sees it.
func export(ctx context.Context, tx pgx.Tx) (*storage.Dump, error) {
	d := &storage.Dump{}
	err := func() error {
		var err error
		if d.Clients, err = listJSON[storage.Client](ctx, tx, "SELECT data FROM clients ORDER BY id"); err != nil {
			return err
		}
		if d.Users, err = listJSON[storage.User](ctx, tx, "SELECT data FROM users ORDER BY id"); err != nil {
			return err
		}
		if d.Groups, err = listJSON[storage.Group](ctx, tx, "SELECT data FROM groups ORDER BY name"); err != nil {
			return err
		}
		if d.APIs, err = listJSON[storage.API](ctx, tx, "SELECT data FROM apis ORDER BY audience"); err != nil {
			return err
		}
		if d.Grants, err = listJSON[storage.Grant](ctx, tx, "SELECT data FROM grants ORDER BY user_id, client_id"); err != nil {
			return err
		}
		if d.Keys, err = listJSON[storage.SigningKey](ctx, tx, "SELECT data FROM signing_keys ORDER BY id"); err != nil {
			return err
		}
		if d.Sessions, err = listJSON[storage.Session](ctx, tx, "SELECT data FROM sessions ORDER BY id"); err != nil {
			return err
		}
		if d.RefreshTokens, err = listJSON[storage.RefreshToken](ctx, tx, "SELECT data FROM refresh_tokens ORDER BY hash"); err != nil {
			return err
		}
		if d.Logouts, err = listJSON[storage.LogoutDelivery](ctx, tx, "SELECT data FROM logouts ORDER BY id"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "SELECT data, revoked FROM refresh_families ORDER BY id")
		if err != nil {
			return err
		}
		for rows.Next() {
			f, err := scanFamily(rows)
			if err != nil {
				rows.Close()
				return err
			}
			d.Families = append(d.Families, f)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT a.data, a.revoked OR coalesce(f.revoked, false)
			FROM access_tokens a LEFT JOIN refresh_families f ON f.id = a.family_id ORDER BY a.id`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var data []byte
			var revoked bool
			if err := rows.Scan(&data, &revoked); err != nil {
				rows.Close()
				return err
			}
			at, err := decode[storage.AccessToken](data)
			if err != nil {
				rows.Close()
				return err
			}
			at.Revoked = revoked
			d.AccessTokens = append(d.AccessTokens, at)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if d.SessionClients, err = collect(ctx, tx, "SELECT sid, client_id, expires_at FROM session_clients ORDER BY sid, client_id",
			func(r pgx.CollectableRow) (storage.SessionClient, error) {
				var sc storage.SessionClient
				err := r.Scan(&sc.SID, &sc.ClientID, &sc.ExpiresAt)
				return sc, err
			}); err != nil {
			return err
		}
		if d.RevokedJWTs, err = collect(ctx, tx, "SELECT jti, expires_at FROM revoked_jtis ORDER BY jti",
			func(r pgx.CollectableRow) (storage.RevokedJWT, error) {
				var j storage.RevokedJWT
				err := r.Scan(&j.JTI, &j.ExpiresAt)
				return j, err
			}); err != nil {
			return err
		}
		d.AssertionJTIs, err = collect(ctx, tx, "SELECT client_id, jti, expires_at FROM assertion_jtis ORDER BY client_id, jti",
			func(r pgx.CollectableRow) (storage.UsedAssertion, error) {
				var a storage.UsedAssertion
				err := r.Scan(&a.ClientID, &a.JTI, &a.ExpiresAt)
				return a, err
			})
		return err
	}()
	if err != nil {
		return nil, err
	}
	return d, nil
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}
