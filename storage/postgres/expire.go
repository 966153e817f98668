package postgres

import (
	"context"
	"fmt"
	"time"
)

// expiring lists each table with the column that says when its rows may go.
// A refresh family's deletion takes its refresh tokens with it (ON DELETE
// CASCADE); those are not counted. Access tokens outlive their family's record
// until their own expiry, keeping their revoked mark.
var expiring = []struct{ table, column string }{
	{"auth_requests", "expires_at"},
	{"sessions", "expires_at"},
	{"assertion_jtis", "expires_at"},
	{"access_tokens", "expires_at"},
	{"refresh_families", "delete_after"},
	{"refresh_tokens", "expires_at"},
	{"session_clients", "expires_at"},
	{"logouts", "expires_at"},
	{"revoked_jtis", "expires_at"},
	{"device_authorizations", "expires_at"},
	{"throttles", "expires_at"},
}

// DeleteExpired removes at most limit records whose expiry is not after now
// (the records' Expired methods count the expiry instant as expired), earliest
// first within each table, and reports how many it removed. Each batch is one
// statement through the expiry column's index; rows another transaction holds
// (a rotation in progress, another replica's janitor) are skipped, not waited
// for: the next run takes them.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("postgres: delete expired: limit %d is not positive", limit)
	}
	n := 0
	for _, e := range expiring {
		if n >= limit {
			break
		}
		tag, err := s.pool.Exec(ctx, "DELETE FROM "+e.table+" WHERE ctid = ANY(ARRAY("+
			"SELECT ctid FROM "+e.table+" WHERE "+e.column+" <= $1 ORDER BY "+e.column+" LIMIT $2 FOR UPDATE SKIP LOCKED))",
			ts(now), limit-n)
		if err != nil {
			return n, fmt.Errorf("postgres: delete expired %s: %w", e.table, mapErr(err))
		}
		n += int(tag.RowsAffected())
	}
	return n, nil
}
