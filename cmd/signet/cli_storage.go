package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/web/credentials/totp"
)

func (c *cli) storageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Move Signet's data between storage backends",
	}
	cmd.AddCommand(c.storageImportCmd())
	return cmd
}

func (c *cli) storageImportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE",
		Short: "Copy an embedded signet.db (bbolt) into the configured, empty PostgreSQL database",
		Long: `Copy everything a bbolt signet.db holds that outlives a sign-in in progress
(clients, people, groups, APIs, grants, signing keys as sealed, sessions,
refresh families and tokens, opaque access tokens, revoked JWT ids, pending
back-channel logout notices and used client assertion ids not yet expired) into
the PostgreSQL database the configuration names (storage.type postgres), in one
transaction that reads everything back and checks every record before it
commits. FILE is opened read-only. Sign-ins in progress and unredeemed codes are
not copied.

Stop the server that uses FILE first. The target must be empty: start no
replica on it before the import (a replica creates signing keys). The
environment must give the key-encryption key and the cookie key the embedded
deployment used (SIGNET_KEY_ENCRYPTION_KEY and SIGNET_COOKIE_KEY, or their
_FILE variables, as the replicas will get them): the signing keys are sealed
under the first, and sessions and two-step enrolments depend on the second.
Both are checked against the data (every signing key must open with the first,
every enrolled second factor with the second), and key files in FILE's
directory, if any, are compared with the environment.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			return storageImport(cmd.Context(), cfg, args[0], cmd.OutOrStdout())
		},
	}
}

func storageImport(ctx context.Context, cfg *Config, file string, out io.Writer) error {
	if !cfg.Storage.Postgres() {
		return errors.New("signet storage import copies into PostgreSQL: set storage.type postgres (and storage.dsn or " +
			EnvDatabaseURL + ") in the configuration it reads")
	}
	secrets, err := LoadSharedSecrets()
	if err != nil {
		return fmt.Errorf("the replicas' keys: %w (set %s and %s, or their _FILE variables, to the keys the embedded deployment used)",
			err, EnvKeyEncryptionKey, EnvCookieKey)
	}
	if st, err := os.Stat(file); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	} else if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a file: give the path of signet.db", file)
	}
	if err := sameKeysAsFile(file, secrets); err != nil {
		return err
	}
	// Read-only: opening it read-write could create buckets and record this
	// version's schema, and the Signet that wrote the file could then refuse
	// it (a rollback after a failed move). A running server's lock still
	// keeps the import out.
	src, err := boltstore.Open(file, boltstore.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, boltstore.ErrLocked) {
		return fmt.Errorf("%s is in use by a running signet serve: stop it first (the import copies one instant; what it wrote afterwards would be lost)", file)
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer src.Close()
	dump, err := src.Export(ctx)
	if err != nil {
		return err
	}
	dump.DropExpiredAssertions(time.Now())
	// The keys are checked against the data itself, since key files next to
	// FILE are only there when the embedded deployment kept its keys there.
	if err := keys.CheckSealed(secrets.KeyEncryptionKey, dump.Keys); err != nil {
		return fmt.Errorf("%s's signing keys: %w: give %s the key-encryption key the embedded deployment used (nothing was copied)",
			file, err, EnvKeyEncryptionKey)
	}
	if err := checkCookieKey(secrets.CookieKey, dump.Users); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	dst, err := openPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	// The copy is read back and compared inside the import's transaction, so
	// that a copy that differs is never committed.
	err = dst.Import(ctx, dump, func(back *storage.Dump) error {
		if kind, diff := dumpsDiffer(dump, back); kind != "" {
			return fmt.Errorf("the copy differs from %s in its %s (%s)", file, kind, diff)
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotEmpty) {
		return fmt.Errorf("%w; storage import fills an empty database only (nothing was copied). Import before the first replica starts, or into a new database", err)
	}
	if err != nil {
		return fmt.Errorf("%w (nothing was copied)", err)
	}
	fmt.Fprintf(out, "Copied %s into PostgreSQL, read every record back and compared it before committing:\n", file)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, kc := range dump.Counts() {
		fmt.Fprintf(tw, "  %s:\t%d\n", kc.Kind, kc.Count)
	}
	tw.Flush()
	fmt.Fprintln(out, "Start the replicas with the same SIGNET_KEY_ENCRYPTION_KEY and SIGNET_COOKIE_KEY (docs/high-availability.md).")
	return nil
}

// sameKeysAsFile compares the key files kept next to file (a data_dir) with
// the keys the environment gives: a different key would leave the copied
// signing keys sealed shut, or every session and two-step enrolment unusable.
func sameKeysAsFile(file string, secrets *Secrets) error {
	dir := filepath.Dir(file)
	for _, k := range []struct {
		name, env string
		want      [32]byte
	}{
		{KeyEncryptionKeyFile, EnvKeyEncryptionKey, secrets.KeyEncryptionKey},
		{CookieKeyFile, EnvCookieKey, secrets.CookieKey},
	} {
		path := filepath.Join(dir, k.name)
		got, err := readKeyFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if subtle.ConstantTimeCompare(got[:], k.want[:]) != 1 {
			return fmt.Errorf("%s differs from the key %s gives: the replicas must use the embedded deployment's key (set %s_FILE=%s)",
				path, k.env, k.env, path)
		}
	}
	return nil
}

// checkCookieKey opens every enrolled second factor with the key derived from
// cookieKey: with another cookie key than the embedded deployment's, every
// TOTP enrolment (and every opaque access token, which nothing stored can
// check) would be unusable after the move. Pending enrolments are not
// checked: they last minutes.
func checkCookieKey(cookieKey [32]byte, users []*storage.User) error {
	key := totp.DeriveKey(cookieKey)
	for _, u := range users {
		if !u.TOTP.Enrolled() {
			continue
		}
		if err := totp.CheckSealed(key, u.ID, u.TOTP.Secret); err != nil {
			return fmt.Errorf("the cookie key does not open %s's second factor (%w): set %s (or %s%s) to the cookie key the embedded deployment used (nothing was copied)",
				u.Username, err, EnvCookieKey, EnvCookieKey, fileEnvSuffix)
		}
	}
	return nil
}

// dumpsDiffer compares two dumps record by record, whatever their order, and
// names the first kind that differs ("" when none does). PostgreSQL keeps
// times to the microsecond, so the expiries of session clients, revoked JWT
// ids and used assertion ids are compared at that precision.
func dumpsDiffer(a, b *storage.Dump) (kind, diff string) {
	ca, cb := a.Counts(), b.Counts()
	fa, fb := fingerprints(a), fingerprints(b)
	for i, kc := range ca {
		if kc.Count != cb[i].Count {
			return kc.Kind, fmt.Sprintf("%d records, the copy %d", kc.Count, cb[i].Count)
		}
		for fp, n := range fa[i] {
			if fb[i][fp] != n {
				return kc.Kind, "a record's content"
			}
		}
	}
	return "", ""
}

// fingerprints encodes every record of d, per kind in Counts order, as a
// multiset of JSON encodings.
func fingerprints(d *storage.Dump) []map[string]int {
	micro := func(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
	var scs []storage.SessionClient
	for _, sc := range d.SessionClients {
		sc.ExpiresAt = micro(sc.ExpiresAt)
		scs = append(scs, sc)
	}
	var jtis []storage.RevokedJWT
	for _, j := range d.RevokedJWTs {
		j.ExpiresAt = micro(j.ExpiresAt)
		jtis = append(jtis, j)
	}
	var assertions []storage.UsedAssertion
	for _, a := range d.AssertionJTIs {
		a.ExpiresAt = micro(a.ExpiresAt)
		assertions = append(assertions, a)
	}
	kinds := []any{d.Clients, d.Users, d.Groups, d.APIs, d.Grants, d.Keys, d.Sessions, scs,
		d.Families, d.RefreshTokens, d.AccessTokens, jtis, d.Logouts, assertions}
	out := make([]map[string]int, len(kinds))
	for i, k := range kinds {
		out[i] = map[string]int{}
		var records []json.RawMessage
		raw, _ := json.Marshal(k)
		json.Unmarshal(raw, &records)
		for _, r := range records {
			var buf bytes.Buffer
			json.Compact(&buf, r)
			out[i][buf.String()]++
		}
	}
	return out
}
