package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/signet-idp/signet/storage"
)

// TestMapErrUnavailable: errors that say the database cannot be reached just
// now map to storage.ErrUnavailable (a 503, try again); others do not.
func TestMapErrUnavailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&pgconn.ConnectError{}, true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{&pgconn.PgError{Code: "57P01"}, true}, // admin shutdown
		{&pgconn.PgError{Code: "57P03"}, true}, // cannot connect now (starting up)
		{&pgconn.PgError{Code: "08006"}, true}, // connection failure
		{context.DeadlineExceeded, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{pgx.ErrNoRows, false},
		{errors.New("something else"), false},
	} {
		if got := errors.Is(mapErr(tc.err), storage.ErrUnavailable); got != tc.want {
			t.Errorf("mapErr(%v) unavailable = %v, want %v", tc.err, got, tc.want)
		}
	}
}
