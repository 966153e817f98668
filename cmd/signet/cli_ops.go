package main

// Operations commands: version, healthcheck, backup, restore, compact; and
// the rules every management command follows (no state is ever created by
// one, unknown commands are usage errors).

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/storage/boltstore"
)

// EnvConfig names the configuration file when --config is not given.
const EnvConfig = "SIGNET_CONFIG"

// version is set at build time (-ldflags "-X main.version=v1.2.3"); otherwise
// the module version from the build info is used.
var version = ""

// usageError is a command line that names no command Signet has: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// isUsageError reports whether err is a mistake in the command line rather
// than a failure of the command: an unknown command, subcommand or flag.
func isUsageError(err error) bool {
	var u *usageError
	if errors.As(err, &u) {
		return true
	}
	// cobra's own, for arguments to a command that takes none and for flags.
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") || strings.HasPrefix(msg, "unknown flag: ") ||
		strings.HasPrefix(msg, "unknown shorthand flag: ")
}

// guardUnknown makes every command that only groups others (signet, signet
// user, ...) refuse an unknown subcommand with a suggestion, instead of
// printing its help and succeeding, which scripts would take for success.
func guardUnknown(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		guardUnknown(sub)
	}
	if !cmd.HasSubCommands() || cmd.Run != nil || cmd.RunE != nil {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownCommand(cmd, args[0])
	}
}

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", strings.Join(s, `" or "`))
	}
	return &usageError{msg: msg + fmt.Sprintf(" (%s --help lists the commands)", cmd.CommandPath())}
}

// buildInfo is what `signet version` prints.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Time     string `json:"commit_time,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if b.Version == "" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "vcs.time":
				b.Time = s.Value
			}
		}
	}
	if b.Version == "" {
		b.Version = "(devel)"
	}
	return b
}

func (b buildInfo) String() string {
	s := "signet " + b.Version
	if b.Commit != "" {
		s += " commit " + b.Commit
		if b.Modified {
			s += " (modified)"
		}
	}
	return s + " " + b.Go + " " + b.Platform
}

func (c *cli) versionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		b := readBuildInfo()
		if *output == "json" {
			return writeJSON(cmd.OutOrStdout(), b)
		}
		fmt.Fprintln(cmd.OutOrStdout(), b)
		return nil
	}
	return cmd
}

// configSource says where the configuration came from, for messages.
func (c *cli) configSource() string {
	if c.configPath == "" {
		return "the built-in defaults (no --config or " + EnvConfig + ")"
	}
	return c.configPath
}

// requireData refuses to go on when cfg's data directory holds no database: a
// management command must never create one (a typo in --config would
// otherwise make a fresh data directory with new secrets and report "No
// users."). An empty or missing data directory counts as no data.
func (c *cli) requireData(cfg *Config) error {
	db := filepath.Join(cfg.DataDir, dbFileName)
	fi, err := os.Stat(db)
	if err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data directory: %w", err)
	}
	return fmt.Errorf("no Signet data in %s (data_dir from %s): nothing to work on; "+
		"start the server once (signet --config FILE serve) to create it, or give the server's configuration with --config FILE or %s",
		cfg.DataDir, c.configSource(), EnvConfig)
}

func (c *cli) healthcheckCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Ask the configured server's /readyz; exit 0 when ready, 1 otherwise",
		Long: `Ask the server that the configuration describes (its listen address) whether it
is ready: GET /readyz answers 200 when storage answers and the signing keys are
loaded. Exits 0 when ready, 1 otherwise. For container health checks, where
there is no curl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			// The server answers under the issuer's path, /readyz included.
			u := "http://" + probeAddress(cfg.Listen) + issuerBasePath(cfg.Issuer) + "/readyz"
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("not ready: %s: %w", u, errors.Unwrap(err))
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: %s answered %s: %s", u, resp.Status, oneLine(string(body)))
			}
			fmt.Fprintln(cmd.OutOrStdout(), "ready")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	return cmd
}

// probeAddress turns a listen address into one to connect to: a wildcard host
// (":5556", "0.0.0.0:5556", "[::]:5556") is reached on loopback.
func probeAddress(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}

func (c *cli) compactCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "compact",
		Short: "Rewrite the database without its free pages (the server must be stopped)",
		Long: `Rewrite data_dir/signet.db into a new file without the pages that deleted
records left free, and put it in place, so that the space goes back to the
disk. bbolt reuses free pages but never shrinks its file. The server must be
stopped: compacting needs the database to itself. Take a backup first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			if err := embeddedOnly(cfg, "compact", "PostgreSQL reclaims space itself (autovacuum; VACUUM FULL to give it back to the disk)"); err != nil {
				return err
			}
			if err := c.requireData(cfg); err != nil {
				return err
			}
			if err := noServer(cfg, "compact"); err != nil {
				return err
			}
			if err := EnsureDataDir(cfg.DataDir); err != nil {
				return err
			}
			path := filepath.Join(cfg.DataDir, dbFileName)
			if err := CheckPrivateFile(path); err != nil {
				return err
			}
			before, after, err := boltstore.Compact(path, boltstore.Options{Timeout: openDBTimeout})
			if errors.Is(err, boltstore.ErrLocked) {
				return fmt.Errorf("%w; stop the server first", err)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Compacted %s: %s -> %s\n", path, byteSize(before), byteSize(after))
			return nil
		},
	}
}

// noServer refuses an offline-only command while a server answers on the
// admin socket.
func noServer(cfg *Config, what string) error {
	client, err := admin.Dial(filepath.Join(cfg.DataDir, socketFileName))
	if err != nil {
		return nil
	}
	client.Close()
	return fmt.Errorf("a server is running on %s; stop it before %s", cfg.DataDir, what)
}

func byteSize(n int64) string {
	switch {
	case n >= 10<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 10<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Backup archive: a gzip-compressed tar of the database and of the files in
// data_dir that restore needs to serve again (the secrets kept there and the
// demo mark), with a manifest first.
const (
	backupManifest = "signet-backup.json"
	maxSmallFile   = 64 << 10
)

// backupFiles are the files of data_dir a backup carries besides the database,
// when they exist there. A secret given by environment variable or _FILE is
// the operator's to keep and is not copied.
var backupFiles = []string{KeyEncryptionKeyFile, KeyEncryptionKeyFile + pendingKEKSuffix, CookieKeyFile, demoMarkFile, "demo-client.secret"}

// manifest describes a backup.
type manifest struct {
	Format        int       `json:"format"`
	CreatedAt     time.Time `json:"created_at"`
	Signet        string    `json:"signet"`
	SchemaVersion int       `json:"schema_version"`
	Online        bool      `json:"online"`
	Files         []string  `json:"files"`
}

func (c *cli) backupCmd() *cobra.Command {
	var withoutSecrets bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a backup of the database (and the secrets kept in data_dir) to FILE",
		Long: `Write a consistent backup to FILE (a gzip-compressed tar; "-" for standard
output). While a server runs, the copy comes through its admin socket from one
read transaction and the server goes on serving; otherwise the database is
read directly.

The archive holds signet.db and the files of data_dir needed to serve it again:
the key-encryption key and cookie key when they are kept there (not when they
come from SIGNET_KEY_ENCRYPTION_KEY, SIGNET_COOKIE_KEY or their _FILE
variables: keep those yourself). With the key-encryption key inside, the
archive opens every signing key: store it like the data directory, or pass
--without-secrets and keep the keys apart. FILE is created with mode 0600 and
never overwritten. "signet restore FILE" puts it back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			if err := embeddedOnly(cfg, "backup", "back up the database with pg_dump, and keep the two keys (SIGNET_KEY_ENCRYPTION_KEY, SIGNET_COOKIE_KEY) with it"); err != nil {
				return err
			}
			return c.backup(cmd.Context(), cfg, args[0], withoutSecrets, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVar(&withoutSecrets, "without-secrets", false, "leave the key files of data_dir out of the archive")
	return cmd
}

func (c *cli) backup(ctx context.Context, cfg *Config, dest string, withoutSecrets bool, stdout, stderr io.Writer) error {
	if dest != "-" {
		if _, err := os.Lstat(dest); err == nil {
			return fmt.Errorf("%s exists; give a new file name (a backup never overwrites)", dest)
		}
	}
	// The database goes to a temporary file first: tar needs its size.
	tmpDir := os.TempDir()
	if dest != "-" {
		tmpDir = filepath.Dir(dest)
	}
	dbTmp, err := os.CreateTemp(tmpDir, ".signet-backup-db-*")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer os.Remove(dbTmp.Name())
	defer dbTmp.Close()

	m := manifest{Format: 1, Signet: readBuildInfo().Version, SchemaVersion: boltstore.SchemaVersion}
	var files map[string][]byte
	// A rewrap between reading the keys and copying the database would pair
	// keys sealed under one key-encryption key with the other: read the files
	// before and after, and copy again if they changed.
	for attempt := 0; ; attempt++ {
		if files, err = readBackupFiles(cfg.DataDir, withoutSecrets); err != nil {
			return err
		}
		if err := dbTmp.Truncate(0); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if _, err := dbTmp.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if m.Online, err = c.copyDatabase(ctx, cfg, dbTmp); err != nil {
			return err
		}
		after, err := readBackupFiles(cfg.DataDir, withoutSecrets)
		if err != nil {
			return err
		}
		if sameFiles(files, after) {
			break
		}
		if attempt == 2 {
			return errors.New("backup: the key files kept changing while the database was copied (a rewrap?); try again")
		}
	}
	m.CreatedAt = time.Now().UTC().Truncate(time.Second)
	for _, name := range backupFiles {
		if _, ok := files[name]; ok {
			m.Files = append(m.Files, name)
		}
	}
	m.Files = append(m.Files, dbFileName)

	var w io.Writer = stdout
	var out *os.File
	if dest != "-" {
		// O_EXCL: never overwrite, even a file created since the check above.
		out, err = os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		w = out
	}
	n, err := writeArchive(w, m, files, dbTmp)
	if out != nil {
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dest)
		}
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if dest != "-" {
		how := "directly from the database"
		if m.Online {
			how = "from the running server"
		}
		fmt.Fprintf(stdout, "Backup written to %s (%s, %s): %s\n", dest, byteSize(n), how, strings.Join(m.Files, ", "))
	}
	if withoutSecrets || !slicesContains(m.Files, KeyEncryptionKeyFile) {
		fmt.Fprintf(stderr, "note: the archive holds no key-encryption key; keep the one this server uses (%s, or data_dir/%s) with it, or its signing keys cannot be opened\n",
			EnvKeyEncryptionKey, KeyEncryptionKeyFile)
	}
	return nil
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// copyDatabase writes the database to w: through the running server's admin
// socket when one answers (online), else from the file. It reports whether
// the copy came from a running server.
func (c *cli) copyDatabase(ctx context.Context, cfg *Config, w io.Writer) (bool, error) {
	if client, err := admin.Dial(filepath.Join(cfg.DataDir, socketFileName)); err == nil {
		defer client.Close()
		_, err := client.Backup(ctx, w)
		return true, err
	}
	if err := c.requireData(cfg); err != nil {
		return false, err
	}
	path := filepath.Join(cfg.DataDir, dbFileName)
	if err := CheckPrivateFile(path); err != nil {
		return false, err
	}
	_, err := boltstore.BackupFile(ctx, path, w, boltstore.Options{Timeout: openDBTimeout})
	if errors.Is(err, boltstore.ErrLocked) {
		return false, fmt.Errorf("%w, and its admin socket does not answer; run this command as the server's user", err)
	}
	return false, err
}

// readBackupFiles reads the files of backupFiles that exist in dataDir, the
// secrets among them only when they are what the server uses.
func readBackupFiles(dataDir string, withoutSecrets bool) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, name := range backupFiles {
		secret := name != demoMarkFile && name != "demo-client.secret"
		if secret && withoutSecrets {
			continue
		}
		if (name == KeyEncryptionKeyFile || name == KeyEncryptionKeyFile+pendingKEKSuffix) && kekFromEnvironment() {
			continue
		}
		if name == CookieKeyFile && cookieKeyFromEnvironment() {
			continue
		}
		path := filepath.Join(dataDir, name)
		if err := CheckPrivateFile(path); err != nil {
			return nil, err
		}
		b, err := readSmallFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		files[name] = b
	}
	return files, nil
}

func cookieKeyFromEnvironment() bool {
	_, file := os.LookupEnv(EnvCookieKey + fileEnvSuffix)
	return os.Getenv(EnvCookieKey) != "" || file
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSmallFile+1))
	if err == nil && len(b) > maxSmallFile {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxSmallFile)
	}
	return b, err
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			return false
		}
	}
	return true
}

// writeArchive writes the manifest, the small files and the database (from
// the start of db) as a gzip-compressed tar, and returns the bytes written.
func writeArchive(w io.Writer, m manifest, files map[string][]byte, db *os.File) (int64, error) {
	cw := &countWriter{w: w}
	zw := gzip.NewWriter(cw)
	tw := tar.NewWriter(zw)
	mt := m.CreatedAt
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: size, ModTime: mt, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return 0, err
	}
	if err := add(backupManifest, int64(len(mb)), strings.NewReader(string(mb))); err != nil {
		return 0, err
	}
	for _, name := range backupFiles {
		if b, ok := files[name]; ok {
			if err := add(name, int64(len(b)), strings.NewReader(string(b))); err != nil {
				return 0, err
			}
		}
	}
	fi, err := db.Stat()
	if err != nil {
		return 0, err
	}
	if _, err := db.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if err := add(dbFileName, fi.Size(), db); err != nil {
		return 0, err
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *cli) restoreCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "restore FILE",
		Short: "Restore a backup into the (empty or absent) data directory of the configuration",
		Long: `Restore an archive written by "signet backup" into data_dir of the
configuration (--config or SIGNET_CONFIG). The data directory must be absent or
hold no Signet data (no database, no key files): restore never replaces data.
It is created with mode 0700 and every file with mode 0600. The database is
checked (a schema newer than this binary is refused) before it is put in place,
last, so that an interrupted restore leaves no database behind.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			if err := embeddedOnly(cfg, "restore", "restore the database with pg_restore, and give every replica the keys kept with the dump"); err != nil {
				return err
			}
			return restore(cfg, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func restore(cfg *Config, src string, stdout, stderr io.Writer) error {
	dir := cfg.DataDir
	for _, name := range append([]string{dbFileName, socketFileName}, backupFiles...) {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("data directory %s already holds Signet data (%s); restore only fills an empty or new data directory: "+
				"point data_dir at a new one, or move this one away first", dir, name)
		}
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return fmt.Errorf("restore: %s is not a Signet backup (not gzip): %w", src, err)
	}
	if err := EnsureDataDir(dir); err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	var m manifest
	var staged []string // temporary files, renamed into place at the end
	defer func() {
		for _, t := range staged {
			os.Remove(t)
		}
	}()
	final := map[string]string{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("restore: %s: %w", src, err)
		}
		if i == 0 {
			if h.Name != backupManifest {
				return fmt.Errorf("restore: %s is not a Signet backup (no manifest)", src)
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxSmallFile))
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if err := json.Unmarshal(b, &m); err != nil || m.Format != 1 {
				return fmt.Errorf("restore: %s: manifest of an unknown format; made by a newer Signet?", src)
			}
			if m.SchemaVersion > boltstore.SchemaVersion {
				return fmt.Errorf("restore: %s holds schema version %d, newer than this Signet's %d (it was made by Signet %s): restore it with that version or newer",
					src, m.SchemaVersion, boltstore.SchemaVersion, m.Signet)
			}
			continue
		}
		if h.Typeflag != tar.TypeReg || (h.Name != dbFileName && !slicesContains(backupFiles, h.Name)) {
			return fmt.Errorf("restore: %s: unexpected entry %q", src, h.Name)
		}
		if _, dup := final[h.Name]; dup {
			return fmt.Errorf("restore: %s: %q appears twice", src, h.Name)
		}
		r := io.Reader(tr)
		if h.Name != dbFileName {
			r = io.LimitReader(tr, maxSmallFile)
		}
		tmp, err := os.CreateTemp(dir, ".restore-*")
		if err != nil {
			return fmt.Errorf("restore: %w", err)
		}
		staged = append(staged, tmp.Name())
		final[h.Name] = tmp.Name()
		_, err = io.Copy(tmp, r)
		if err == nil {
			err = tmp.Chmod(0o600)
		}
		if err == nil {
			err = tmp.Sync()
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("restore: %s: %w", h.Name, err)
		}
	}
	dbTmp, ok := final[dbFileName]
	if !ok {
		return fmt.Errorf("restore: %s holds no database", src)
	}
	// Opening checks the schema (a newer one is refused) and upgrades an
	// older one, before anything is in place.
	store, err := boltstore.Open(dbTmp, boltstore.Options{Timeout: openDBTimeout})
	if err != nil {
		return fmt.Errorf("restore: the database in %s: %w", src, err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	var names []string
	for _, name := range backupFiles {
		if t, ok := final[name]; ok {
			if err := os.Rename(t, filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			names = append(names, name)
		}
	}
	// The database last: its presence is what makes the directory hold data.
	if err := os.Rename(dbTmp, filepath.Join(dir, dbFileName)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	names = append(names, dbFileName)
	syncDir(dir)
	fmt.Fprintf(stdout, "Restored %s into %s: %s (backup of %s, Signet %s)\n", src, dir, strings.Join(names, ", "),
		m.CreatedAt.Format(time.RFC3339), m.Signet)
	if _, ok := final[KeyEncryptionKeyFile]; !ok && !kekFromEnvironment() {
		fmt.Fprintf(stderr, "note: the backup holds no key-encryption key: set %s (or %s%s) to the key the signing keys were sealed with before signet serve\n",
			EnvKeyEncryptionKey, EnvKeyEncryptionKey, fileEnvSuffix)
	}
	return nil
}

// kekFingerprint identifies a key-encryption key without revealing it: the
// first 16 hex digits of its SHA-256. An operator computes the same from the
// base64 text: base64 -d <<<"$KEY" | sha256sum | cut -c1-16
func kekFingerprint(k []byte) string {
	sum := sha256.Sum256(k)
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// deploymentProblems are what `config check` finds beyond the file itself:
// what serve would refuse or could not undo (a data directory open to others,
// a malformed secret, a database whose key-encryption key is missing), and a
// relative data_dir where a service manager decides the working directory.
// notes are worth saying but not wrong. Nothing is created.
func deploymentProblems(cfg *Config) (problems, notes []string) {
	if cfg.Storage.Postgres() {
		return postgresProblems(cfg)
	}
	dir := cfg.DataDir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		notes = append(notes, fmt.Sprintf("data_dir %s does not exist yet; signet serve creates it (mode 0700)", dir))
	case err != nil:
		problems = append(problems, fmt.Sprintf("data_dir: %v", err))
	case !fi.IsDir():
		problems = append(problems, fmt.Sprintf("data_dir: %s is not a directory", dir))
	default:
		if err := EnsureDataDir(dir); err != nil {
			problems = append(problems, "data_dir: "+err.Error())
		}
		for _, name := range []string{dbFileName, socketFileName} {
			if err := CheckPrivateFile(filepath.Join(dir, name)); err != nil {
				problems = append(problems, "data_dir: "+err.Error())
			}
		}
	}
	if !filepath.IsAbs(dir) {
		wd, _ := os.Getwd()
		msg := fmt.Sprintf("data_dir %s is relative: it is resolved against the working directory (now %s)", dir, wd)
		if mgr := serviceManager(); mgr != "" {
			problems = append(problems, msg+", which "+mgr+" chooses; use an absolute path such as /var/lib/signet")
		} else {
			notes = append(notes, msg+"; under a service manager use an absolute path")
		}
	}
	hasDB := false
	if fi, err := os.Stat(filepath.Join(dir, dbFileName)); err == nil && fi.Size() > 0 {
		hasDB = true
	}
	for _, sec := range []struct{ env, file, what string }{
		{EnvKeyEncryptionKey, KeyEncryptionKeyFile, "key-encryption key"},
		{EnvCookieKey, CookieKeyFile, "cookie key"},
	} {
		fileVar := sec.env + fileEnvSuffix
		if given, problem := envSecretProblem(sec.env, sec.what); given {
			if problem != "" {
				problems = append(problems, problem)
			}
			continue
		}
		p := filepath.Join(dir, sec.file)
		_, err := readKeyFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist) && hasDB && sec.file == KeyEncryptionKeyFile:
			problems = append(problems, fmt.Sprintf("%s: %s is missing but %s exists: its signing keys cannot be opened; restore the key from a backup, or set %s",
				sec.what, p, dbFileName, sec.env))
		case errors.Is(err, fs.ErrNotExist):
			notes = append(notes, fmt.Sprintf("%s: not set (%s, %s) and %s does not exist; signet serve generates it", sec.what, sec.env, fileVar, p))
		case err != nil:
			problems = append(problems, sec.what+": "+err.Error())
		}
	}
	return problems, notes
}

// envSecretProblem checks a secret given in the environment, as env or as
// env_FILE: given reports whether either is set, problem what is wrong with it
// ("" when nothing is).
func envSecretProblem(env, what string) (given bool, problem string) {
	fileVar := env + fileEnvSuffix
	path, fromFile := os.LookupEnv(fileVar)
	v, fromEnv := os.LookupEnv(env)
	switch {
	case fromFile && fromEnv:
		return true, fmt.Sprintf("%s: both %s and %s are set; set one", what, env, fileVar)
	case fromFile:
		if _, err := readSecretFile(fileVar, path); err != nil {
			return true, what + ": " + err.Error()
		}
		return true, ""
	case fromEnv:
		if _, err := decodeKey(v); err != nil {
			return true, fmt.Sprintf("%s: %s: %v", what, env, err)
		}
		return true, ""
	}
	return false, ""
}

// serviceManager names the service manager that started this process, or "".
func serviceManager() string {
	switch {
	case os.Getenv("INVOCATION_ID") != "" || os.Getenv("NOTIFY_SOCKET") != "":
		return "systemd"
	case os.Getenv("SUPERVISOR_ENABLED") != "":
		return "supervisord"
	}
	return ""
}

// embeddedOnly refuses a command that works on the embedded bbolt file when
// the configuration names PostgreSQL, saying what to use instead (rather than
// looking for a data directory the configuration does not use).
func embeddedOnly(cfg *Config, command, instead string) error {
	if !cfg.Storage.Postgres() {
		return nil
	}
	return fmt.Errorf("signet %s works on the embedded database (storage.type bbolt); with storage.type postgres, %s (docs/high-availability.md)", command, instead)
}
