// Package pgtest gives tests a real PostgreSQL database: the server named by
// SIGNET_TEST_POSTGRES_DSN, or else a throwaway cluster that it creates with the
// PostgreSQL server binaries it finds (Debian's postgresql package puts them in
// /usr/lib/postgresql/VERSION/bin), listening only on a unix socket in a
// temporary directory, and stops when the package's tests end (Main).
//
// It owns the test side of the backend's setup: finding or starting the server,
// one fresh schema per test (so tests stay independent and fast, and a database
// given in SIGNET_TEST_POSTGRES_DSN is never emptied: everything a test makes
// lives in a schema of its own, dropped at the end), and the skip-or-fail
// decision. Without a server the tests skip, saying how to run them, except
// under CI=true, where they fail: CI installs PostgreSQL (.ci/run).
//
// It is for tests only; nothing outside _test.go files imports it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvDSN names the environment variable holding the connection string of a
// PostgreSQL database the tests may use (they create and drop schemas in it).
const EnvDSN = "SIGNET_TEST_POSTGRES_DSN"

// howTo is the skip message.
const howTo = "PostgreSQL tests skipped: set " + EnvDSN + "=postgres://USER@HOST/DB (a database where the tests may create schemas), " +
	"or install PostgreSQL's server binaries (Debian: apt-get install postgresql) so that a throwaway cluster can be started; " +
	"under CI=true these tests fail instead of skipping"

var (
	once    sync.Once
	baseDSN string // the server's connection string, without a search_path
	unavail string // why there is no server (empty when there is one)
	setup   error  // a server that should have started but did not
	cluster *localCluster
	admin   *pgxpool.Pool
	counter atomic.Int64
)

// Main runs the package's tests and stops the throwaway cluster, if one was
// started. Use it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if admin != nil {
		admin.Close()
	}
	if cluster != nil {
		cluster.stop()
	}
	return code
}

// DB is a schema of its own on the test server.
type DB struct {
	// DSN connects with search_path set to Schema.
	DSN    string
	Schema string
}

// New creates a new, empty schema on the test server, dropped when the test
// ends. Without a server it skips the test, or fails it under CI=true.
func New(tb testing.TB) DB {
	tb.Helper()
	once.Do(start)
	if setup != nil {
		tb.Fatalf("PostgreSQL for the tests: %v", setup)
	}
	if unavail != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true and no PostgreSQL for the tests: %s. %s", unavail, howTo)
		}
		tb.Skipf("%s (%s)", howTo, unavail)
	}
	schema := fmt.Sprintf("signet_test_%d_%d", os.Getpid(), counter.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create test schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop test schema: %v", err)
		}
	})
	return DB{DSN: WithSearchPath(baseDSN, schema), Schema: schema}
}

// DSN is New(tb).DSN.
func DSN(tb testing.TB) string {
	tb.Helper()
	return New(tb).DSN
}

// Admin is a pool on the test server (no search_path: qualify names with a
// DB's Schema); nil before New or DSN has found a server.
func Admin() *pgxpool.Pool { return admin }

// WithSearchPath returns dsn with search_path set to schema, in dsn's own form
// (URL or key=value pairs). pgx sends unknown settings to the server as
// run-time parameters.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}

// start finds the server, the environment's or a throwaway cluster, and
// opens the admin pool on it.
func start() {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		baseDSN = dsn
	} else {
		bin, why := findBinaries()
		if bin == "" {
			unavail = why
			return
		}
		c, err := startCluster(bin)
		if err != nil {
			setup = err
			return
		}
		cluster = c
		baseDSN = c.dsn
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, baseDSN)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		setup = fmt.Errorf("the test server does not answer: %w", err)
		return
	}
	admin = pool
}

// findBinaries returns the directory holding initdb and pg_ctl: the one on
// PATH, or the newest under /usr/lib/postgresql.
func findBinaries() (string, string) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), ""
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(a) - version(b) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], ""
		}
	}
	return "", "no initdb on PATH or in /usr/lib/postgresql/*/bin, and " + EnvDSN + " is not set"
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// localCluster is a throwaway PostgreSQL cluster in a temporary directory.
type localCluster struct {
	bin, dir string
	// asUser prefixes commands: initdb refuses to run as root, so as root they
	// run as the postgres user.
	asUser []string
	dsn    string
	opts   string
}

func startCluster(bin string) (*localCluster, error) {
	c := &localCluster{bin: bin}
	var uid, gid int = -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root, and initdb refuses root: no postgres user to run it as (Debian's postgresql package creates one)")
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	// Short, in the system's temporary directory (which every user may enter):
	// a unix socket path must stay under about 100 bytes.
	dir, err := os.MkdirTemp("", "signet-pg-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if uid >= 0 {
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run("initdb", "-D", data, "--auth=trust", "--username=postgres", "--encoding=UTF8",
		"--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Only the socket in dir; durability is not what these tests check.
	c.opts = fmt.Sprintf("-c listen_addresses='' -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 -c wal_level=minimal -c max_wal_senders=0", dir)
	if out, err := c.start(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	c.dsn = fmt.Sprintf("host=%s port=5432 user=postgres dbname=postgres sslmode=disable", dir)
	return c, nil
}

func (c *localCluster) run(name string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(c.asUser), filepath.Join(c.bin, name))
	argv = append(argv, args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd.CombinedOutput()
}

func (c *localCluster) stop() {
	_, _ = c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop")
	os.RemoveAll(c.dir)
}

func (c *localCluster) start() ([]byte, error) {
	return c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o", c.opts, "start")
}

// StopServer stops the throwaway cluster (fast shutdown: every connection is
// cut), for tests of a database outage; StartServer starts it again. Both skip
// the test when the server is the environment's (EnvDSN), which a test must not
// stop.
func StopServer(tb testing.TB) {
	tb.Helper()
	if cluster == nil {
		tb.Skip("the database outage test needs the throwaway cluster, not " + EnvDSN)
	}
	if out, err := cluster.run("pg_ctl", "-D", filepath.Join(cluster.dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
		tb.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// StartServer starts the cluster StopServer stopped.
func StartServer(tb testing.TB) {
	tb.Helper()
	if cluster == nil {
		tb.Skip("the database outage test needs the throwaway cluster, not " + EnvDSN)
	}
	if out, err := cluster.start(); err != nil {
		tb.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
	// The admin pool's connections died with the server: drop them, so that
	// the cleanup that drops each test's schema gets a fresh one.
	if admin != nil {
		admin.Reset()
	}
}
