package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/postgres"
	"github.com/signet-idp/signet/storage/postgres/pgtest"
	"github.com/signet-idp/signet/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite, each subtest in a schema of its own; after
// each it lets everything expire and checks that nothing is left but the
// records that never expire.
func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		db := pgtest.New(t)
		s := open(t, db.DSN)
		t.Cleanup(func() { checkNoLeftovers(t, s, db.Schema) })
		return s
	})
}

func checkNoLeftovers(t *testing.T, s *postgres.Store, schema string) {
	t.Helper()
	if t.Failed() {
		return
	}
	ctx := context.Background()
	end := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	for {
		n, err := s.DeleteExpired(ctx, end, 1000)
		if err != nil {
			t.Fatalf("DeleteExpired at the end of time: %v", err)
		}
		if n < 1000 {
			break
		}
	}
	for _, table := range []string{"sessions", "auth_requests", "refresh_families", "refresh_tokens", "access_tokens",
		"revoked_jtis", "session_clients", "logouts"} {
		var n int
		if err := pgtest.Admin().QueryRow(ctx, "SELECT count(*) FROM "+schema+"."+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("%d rows left in %s after everything expired", n, table)
		}
	}
}

// TestMigrateOnceAcrossReplicas: replicas opening a new database at once
// migrate it once, and opening a migrated database changes nothing.
func TestMigrateOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const n = 4
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	s := open(t, dsn)
	v, err := s.Version(t.Context())
	if err != nil || v != postgres.SchemaVersion {
		t.Fatalf("Version = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM signet_schema").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != postgres.SchemaVersion {
		t.Errorf("signet_schema has %d rows, want one per migration (%d)", rows, postgres.SchemaVersion)
	}
}

// TestSchemaTooNew: a database migrated by a newer Signet is refused, with a
// message that says so, and left as it is.
func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	newer := postgres.SchemaVersion + 1
	if _, err := conn.Exec(t.Context(), "INSERT INTO signet_schema (version) VALUES ($1)", newer); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), dsn, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{fmt.Sprintf("schema version %d", newer), fmt.Sprintf("knows up to %d", postgres.SchemaVersion)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// TestOpenErrorsHideTheDSN: neither a malformed connection string nor a
// refused connection puts the password in the error.
func TestOpenErrorsHideTheDSN(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, dsn := range []string{
		"postgres://signet:s3cret-pw@db.invalid:5432/signet?sslmode=%zz",
		"host=/nonexistent/dir user=signet password=s3cret-pw dbname=signet connect_timeout=2",
	} {
		_, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestTwoReplicas: two stores with pools of their own (as two processes have)
// race for one code and one refresh token: exactly one of each succeeds, and
// the replays revoke what the winner got.
func TestTwoReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	req := &storage.AuthRequest{ID: "r1", ClientID: "app", Done: true, UserID: "u1", ExpiresAt: now.Add(time.Hour)}
	must(t, a.CreateAuthRequest(ctx, req))
	must(t, b.IssueCode(ctx, "r1", []byte("code-hash"), now.Add(time.Minute)))

	const n = 8
	stores := []*postgres.Store{a, b}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			fam := &storage.RefreshFamily{ID: fmt.Sprint("fam-", i), UserID: "u1", ExpiresAt: now.Add(24 * time.Hour)}
			rt := &storage.RefreshToken{Hash: fmt.Sprint("rt-", i), UserID: "u1", ExpiresAt: now.Add(time.Hour)}
			at := &storage.AccessToken{ID: fmt.Sprint("at-", i), UserID: "u1", ExpiresAt: now.Add(time.Hour)}
			errs[i] = stores[i%2].RedeemCode(ctx, []byte("code-hash"), at, fam, rt)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("redemptions %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, storage.ErrReused):
			t.Fatalf("redemption %d: %v, want ErrReused", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no redemption succeeded")
	}
	f, err := a.GetRefreshFamily(ctx, fmt.Sprint("fam-", winner))
	must(t, err)
	if !f.Revoked {
		t.Error("the replays did not revoke the winner's family")
	}

	// A fresh grant, refreshed on both replicas at once.
	must(t, a.CreateAuthRequest(ctx, &storage.AuthRequest{ID: "r2", ClientID: "app", Done: true, UserID: "u1", ExpiresAt: now.Add(time.Hour)}))
	must(t, a.IssueCode(ctx, "r2", []byte("code-2"), now.Add(time.Minute)))
	must(t, b.RedeemCode(ctx, []byte("code-2"), &storage.AccessToken{ID: "at-r2", JWT: true, ExpiresAt: now.Add(time.Hour)},
		&storage.RefreshFamily{ID: "fam-r2", UserID: "u1", ExpiresAt: now.Add(24 * time.Hour)},
		&storage.RefreshToken{Hash: "rt-r2", UserID: "u1", ExpiresAt: now.Add(time.Hour)}))
	for i := range n {
		wg.Go(func() {
			_, errs[i] = stores[i%2].RotateRefreshToken(ctx, storage.Rotation{OldHash: "rt-r2", Now: now.Add(time.Minute),
				Next:   &storage.RefreshToken{Hash: fmt.Sprint("rt-r2-", i), UserID: "u1", ExpiresAt: now.Add(2 * time.Hour)},
				Access: &storage.AccessToken{ID: fmt.Sprint("at-r2-", i), JWT: true, ExpiresAt: now.Add(time.Hour)}})
		})
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, storage.ErrReused) && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("rotation %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d rotations of one token succeeded across two replicas, want 1", ok)
	}
}

// TestAwkwardValues: keys PostgreSQL's text cannot hold are simply not found
// (a login form may send anything), and a record holding NUL characters
// round-trips.
func TestAwkwardValues(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	ctx := t.Context()
	for _, key := range []string{"bad\xff", "nul\x00", strings.Repeat("x", 2000)} {
		if _, err := s.GetUserByUsername(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUserByUsername(%q): %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetClient(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetClient(%q): %v, want ErrNotFound", key, err)
		}
		if _, err := s.GetUserByEmail(ctx, key); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("GetUserByEmail(%q): %v, want ErrNotFound", key, err)
		}
	}
	a := &storage.AuthRequest{ID: "r1", State: "a\x00b<&>", Nonce: "\u2028", ExpiresAt: time.Now().Add(time.Hour)}
	must(t, s.CreateAuthRequest(ctx, a))
	got, err := s.GetAuthRequest(ctx, "r1")
	must(t, err)
	if got.State != a.State || got.Nonce != a.Nonce {
		t.Errorf("state %q nonce %q, want %q %q", got.State, got.Nonce, a.State, a.Nonce)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestImportVerifiesBeforeCommit: Import hands the copy, read back in its own
// transaction, to verify; a refusal leaves the database as empty as before.
// Used client assertion ids are copied, and refused again after the copy.
func TestImportVerifiesBeforeCommit(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	ctx := t.Context()
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	d := &storage.Dump{
		Clients:       []*storage.Client{{ID: "app", RedirectURIs: []string{"https://rp.example/cb"}}},
		AssertionJTIs: []storage.UsedAssertion{{ClientID: "app", JTI: "jti-1", ExpiresAt: exp}},
	}
	refused := errors.New("the copy differs")
	var seen *storage.Dump
	err := s.Import(ctx, d, func(back *storage.Dump) error {
		seen = back
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Import with a refusing verify: %v, want the refusal", err)
	}
	if seen == nil || len(seen.Clients) != 1 || seen.Clients[0].ID != "app" || len(seen.AssertionJTIs) != 1 ||
		seen.AssertionJTIs[0].ClientID != "app" || seen.AssertionJTIs[0].JTI != "jti-1" || !seen.AssertionJTIs[0].ExpiresAt.Equal(exp) {
		t.Errorf("verify saw %+v, want the client and the used assertion just copied", seen)
	}
	if _, err := s.GetClient(ctx, "app"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after a refused verify the client is there (%v): the copy was committed", err)
	}
	back, err := s.Export(ctx)
	must(t, err)
	for _, kc := range back.Counts() {
		if kc.Count != 0 {
			t.Errorf("after a refused verify: %d %s", kc.Count, kc.Kind)
		}
	}

	must(t, s.Import(ctx, d, func(*storage.Dump) error { return nil }))
	if err := s.UseAssertionJTI(ctx, "app", "jti-1", exp); !errors.Is(err, storage.ErrReused) {
		t.Errorf("an assertion used before the import, used again: %v, want ErrReused", err)
	}
	if err := s.Import(ctx, d, nil); !errors.Is(err, storage.ErrNotEmpty) {
		t.Errorf("a second import: %v, want ErrNotEmpty", err)
	}
}

// TestImportWaitsForWriters: an import waits for a write in flight to any
// durable table before it checks that the database is empty, and then sees it.
func TestImportWaitsForWriters(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := open(t, dsn)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	must(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	// A CLI adding a person, not yet committed when the import starts.
	w, err := conn.Begin(ctx)
	must(t, err)
	defer w.Rollback(context.Background())
	_, err = w.Exec(ctx, `INSERT INTO users (id, username, data) VALUES ('u1', 'late', '{"ID":"u1","Username":"late"}')`)
	must(t, err)
	var schema string
	must(t, conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))

	done := make(chan error, 1)
	go func() {
		done <- s.Import(ctx, &storage.Dump{Clients: []*storage.Client{{ID: "app"}}}, nil)
	}()
	// The import is waiting once PostgreSQL shows its LOCK TABLE blocked on
	// the writer's lock of users.
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case err := <-done:
			t.Fatalf("the import finished (%v) while a write to users was in flight: it did not wait for it", err)
		default:
		}
		var waiting bool
		must(t, pgtest.Admin().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT l.granted AND c.relname = 'users' AND n.nspname = $1)`,
			schema).Scan(&waiting))
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import neither finished nor waited for the writer")
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, w.Commit(ctx))
	if err := <-done; !errors.Is(err, storage.ErrNotEmpty) {
		t.Fatalf("the import after the writer committed: %v, want ErrNotEmpty", err)
	}
}
