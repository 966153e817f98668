package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/storage/boltstore"
	"github.com/signet-idp/signet/web"
	"github.com/signet-idp/signet/web/credentials/password"
)

// openDBTimeout is how long a management command waits for the database lock
// before it concludes that a server holds it.
const openDBTimeout = 500 * time.Millisecond

// cli holds what the root's persistent flags set.
type cli struct {
	configPath string
}

// newRootCmd builds the whole command tree. Errors are returned, not printed:
// run prints them as one line.
func newRootCmd() *cobra.Command {
	c := &cli{}
	root := &cobra.Command{
		Use:   "signet",
		Short: "Signet is an OpenID Connect provider",
		Long: `Signet is an OpenID Connect provider.

"signet serve" runs it. The user, client and keys commands manage it: while a
server runs they go through its admin socket (<data_dir>/admin.sock); otherwise
they open the database (<data_dir>/signet.db) themselves.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       readBuildInfo().Version,
		PersistentPreRun: func(*cobra.Command, []string) {
			if c.configPath == "" {
				c.configPath = os.Getenv(EnvConfig)
			}
		},
	}
	root.SetVersionTemplate(readBuildInfo().String() + "\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().StringVar(&c.configPath, "config", "",
		"configuration file (YAML); default: $"+EnvConfig+", else the built-in defaults")
	root.AddCommand(
		c.serveCmd(),
		c.userCmd(),
		c.clientCmd(),
		c.groupCmd(),
		c.apiCmd(),
		c.keysCmd(),
		c.configCmd(),
		c.versionCmd(),
		c.healthcheckCmd(),
		c.backupCmd(),
		c.restoreCmd(),
		c.compactCmd(),
		c.storageCmd(),
	)
	guardUnknown(root)
	return root
}

func (c *cli) serveCmd() *cobra.Command {
	var demo bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the provider until SIGINT or SIGTERM",
		Long: `Run the provider: the OpenID Connect endpoints, the login pages, and the admin
socket that the management commands use while it runs. SIGINT or SIGTERM shuts
it down gracefully.

With --demo it also seeds a demo person and client and serves a demo relying
party on a second loopback port. The demo's password is published, so --demo
needs a loopback issuer and a data directory of its own: one that --demo
created (it writes data_dir/demo-data-dir there), or a new one; and a data
directory so marked serves only a loopback issuer.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := c.loadConfig()
			if err != nil {
				return err
			}
			var reload func() (*Config, error)
			if c.configPath != "" {
				reload = c.loadConfig
			}
			return runServeReloading(cmd.Context(), cfg, demo, cmd.OutOrStdout(), reload)
		},
	}
	cmd.Flags().BoolVar(&demo, "demo", false, "also seed and serve a demo relying party")
	return cmd
}

func (c *cli) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration file",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the file given by --config",
		Long: `Load and validate the file given by --config. Prints "ok", or every problem
on a line of its own and exits non-zero.

Beyond the file it checks what signet serve would meet: the data directory's
permissions, the secrets' presence and form (from the environment, the _FILE
variables or data_dir), and a relative data_dir under a service manager.
It creates nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.configPath == "" {
				return errors.New("config check needs --config FILE")
			}
			cfg, err := LoadConfig(c.configPath)
			if err == nil && cfg.ThemeDir != "" {
				// What serve would refuse at start is a problem of the file too.
				if terr := web.CheckTheme(cfg.ThemeDir); terr != nil {
					err = fmt.Errorf("theme_dir: %w", terr)
				}
			}
			if err == nil {
				problems, notes := deploymentProblems(cfg)
				for _, n := range notes {
					fmt.Fprintln(cmd.OutOrStdout(), "note: "+oneLine(n))
				}
				var errs []error
				for _, p := range problems {
					errs = append(errs, errors.New(p))
				}
				err = errors.Join(errs...)
			}
			if err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "ok")
				return nil
			}
			problems := splitErrors(err)
			for _, p := range problems {
				fmt.Fprintln(cmd.OutOrStdout(), oneLine(p.Error()))
			}
			if len(problems) == 1 {
				return fmt.Errorf("1 problem in %s", c.configPath)
			}
			return fmt.Errorf("%d problems in %s", len(problems), c.configPath)
		},
	})
	return cmd
}

// loadConfig loads --config, or returns the defaults without it. Several problems
// are summed up in one line that points to `config check`.
func (c *cli) loadConfig() (*Config, error) {
	if c.configPath == "" {
		return DefaultConfig(), nil
	}
	cfg, err := LoadConfig(c.configPath)
	if err != nil {
		if ps := splitErrors(err); len(ps) > 1 {
			return nil, fmt.Errorf("%s (and %d more problems: run signet config check --config %s)",
				oneLine(ps[0].Error()), len(ps)-1, c.configPath)
		}
		return nil, err
	}
	return cfg, nil
}

// splitErrors returns the errors joined in err (errors.Join), or err alone.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := j.Unwrap(); len(errs) > 0 {
			return errs
		}
	}
	return []error{err}
}

// manage loads the configuration, opens a Manager, runs fn with it and closes it.
func (c *cli) manage(fn func(admin.Manager) error) error {
	cfg, err := c.loadConfig()
	if err != nil {
		return err
	}
	m, closeFn, err := openManager(cfg, c.requireData)
	if err != nil {
		return err
	}
	err = fn(m)
	if cerr := closeFn(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// runOp sets cmd to run one management operation: in makes its input from the
// arguments (and flags), op runs through the management service (over the
// socket when a server runs), and text prints its answer.
func runOp[Req, Resp any](c *cli, cmd *cobra.Command, op *admin.Op[Req, Resp], in func(args []string) (Req, error), text func(w io.Writer, args []string, out Resp) error) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		req, err := in(args)
		if err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			out, err := op.Call(cmd.Context(), m, req)
			if err != nil {
				return err
			}
			return text(cmd.OutOrStdout(), args, out)
		})
	}
	return cmd
}

// viewOp is runOp with --output: json prints the answer as JSON (an empty list
// as []) instead of text.
func viewOp[Req, Resp any](c *cli, cmd *cobra.Command, op *admin.Op[Req, Resp], in func(args []string) (Req, error), text func(w io.Writer, args []string, out Resp) error) *cobra.Command {
	output := outputFlag(cmd)
	return runOp(c, cmd, op, func(args []string) (Req, error) {
		if err := checkOutput(*output); err != nil {
			var zero Req
			return zero, err
		}
		return in(args)
	}, func(w io.Writer, args []string, out Resp) error {
		if *output != "json" {
			return text(w, args, out)
		}
		if v := reflect.ValueOf(out); v.Kind() == reflect.Slice && v.IsNil() {
			return writeJSON(w, []struct{}{})
		}
		return writeJSON(w, out)
	})
}

// firstArg is the input of an operation on the one thing its command names.
func firstArg(args []string) (string, error) { return args[0], nil }

// noInput is the input of an operation that takes none.
func noInput([]string) (admin.None, error) { return admin.None{}, nil }

// say prints format with the command's first argument, whatever the answer.
func say[Resp any](format string) func(io.Writer, []string, Resp) error {
	return func(w io.Writer, args []string, _ Resp) error {
		_, err := fmt.Fprintf(w, format, args[0])
		return err
	}
}

// printTable prints one line per row under header (tab-separated columns), or
// empty when there are no rows.
func printTable[T any](w io.Writer, empty, header string, rows []T, row func(T) string) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, empty)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, row(r))
	}
	return tw.Flush()
}

// fieldWriter aligns the "name: value" lines of a show command.
func fieldWriter(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 1, ' ', 0) }

// openManager returns the Manager for cfg: a Client of the running server's admin
// socket when one answers at <data_dir>/admin.sock, otherwise a Service on
// <data_dir>/signet.db opened directly, once requireData agreed that it exists
// (nothing is created: no directory, database or secret). The returned
// function closes it.
func openManager(cfg *Config, requireData func(*Config) error) (admin.Manager, func() error, error) {
	if cfg.Storage.Postgres() {
		return openPostgresManager(cfg)
	}
	sock := filepath.Join(cfg.DataDir, socketFileName)
	client, dialErr := admin.Dial(sock)
	if dialErr == nil {
		return client, client.Close, nil
	}
	if err := requireData(cfg); err != nil {
		return nil, nil, err
	}
	if err := EnsureDataDir(cfg.DataDir); err != nil {
		return nil, nil, err
	}
	dbPath := filepath.Join(cfg.DataDir, dbFileName)
	if err := CheckPrivateFile(dbPath); err != nil {
		return nil, nil, err
	}
	store, err := boltstore.Open(dbPath, boltstore.Options{Timeout: openDBTimeout})
	if errors.Is(err, boltstore.ErrLocked) {
		return nil, nil, fmt.Errorf("a server holds the database %s and its admin socket is unreachable (%v); run this command as the server's user, or stop the server",
			dbPath, dialErr)
	}
	if err != nil {
		return nil, nil, err
	}
	// Key commands need the key-encryption key; without it the other commands
	// still work. A missing key file is not made here: that is serve's job.
	secrets, _ := loadSecrets(cfg.DataDir, false)
	return directService(cfg, store, secrets), store.Close, nil
}

// directService is the management service on a store opened by the CLI
// itself; secrets may be nil (then the key commands are unavailable).
func directService(cfg *Config, store storage.Store, secrets *Secrets) *admin.Service {
	log := slog.Default()
	ac := admin.Config{
		// Without Access, admin ends access on store with the server's
		// semantics: logout notices are queued and go out when a server runs.
		Store: store, Hasher: newHasher(cfg), Now: time.Now, Log: log,
	}
	if secrets != nil {
		if km, err := keys.NewManager(store, secrets.KeyEncryptionKey, keyPolicy(cfg), time.Now, log); err == nil {
			ac.Keys, ac.Rewrap = km, rewrapper(cfg, km)
		}
	}
	return admin.New(ac)
}

// newHasher returns the password hasher configured by cfg.Passwords.
func newHasher(cfg *Config) *password.Hasher {
	p := cfg.Passwords
	return password.New(password.Params{
		MemoryKiB:   p.Argon2MemoryKiB,
		Iterations:  p.Argon2Iterations,
		Parallelism: p.Argon2Parallelism,
	}, p.MaxConcurrent)
}

// readPassword reads the first line of r, without its line ending. At most
// password.MaxLength+2 bytes are read, so a longer line stays too long (and is
// refused) rather than being cut to an acceptable length.
func readPassword(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, password.MaxLength+2))
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	if l, ok := strings.CutSuffix(line, "\n"); ok {
		line = strings.TrimSuffix(l, "\r")
	}
	if line == "" {
		return "", errors.New("no password on standard input (its first line is the password)")
	}
	return line, nil
}

// outputFlag adds --output to cmd and returns where it is stored.
func outputFlag(cmd *cobra.Command) *string {
	o := new(string)
	cmd.Flags().StringVarP(o, "output", "o", "text", "output format: text or json")
	return o
}

// checkOutput refuses an --output value other than text and json.
func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return fmt.Errorf("--output %q: want text or json", output)
	}
	return nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// formatTime prints t for people: UTC to the second, "-" when unset.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
