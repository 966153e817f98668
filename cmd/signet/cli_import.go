package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// maxImportFile bounds the file user import reads.
const maxImportFile = 32 << 20

// errImportProblems makes the command exit non-zero after it printed the
// problems of a file.
var errImportProblems = errors.New("nothing was imported: fix the lines above and run the import again")

func (c *cli) userImportCmd() *cobra.Command {
	var format string
	var dryRun, verified bool
	cmd := &cobra.Command{
		Use:   "import FILE [--dry-run] [--format authelia|jsonl]",
		Short: "Import people from Authelia's users_database.yml or a JSON Lines file",
		Long: `Import people, with their password hashes, groups and emails.

Two formats are read:
  authelia  Authelia's file backend (users_database.yml): users.NAME with
            displayname, email, password, groups and disabled.
  jsonl     One JSON object per line, as 'signet user export' writes it:
            {"username": "kim", "email": "kim@example.com", "email_verified": true,
             "name": "Kim", "groups": ["admins"], "disabled": false,
             "password_hash": "$argon2id$v=19$..."}; "id" keeps a subject.
The format follows the file's extension (.yml and .yaml are authelia) unless
--format says otherwise.

Password hashes are argon2id (any parameters) or bcrypt ($2a$, $2b$, $2y$).
People sign in with their old password, and their hash is replaced by one with
the configured argon2id parameters at that sign-in. Groups that do not exist
yet are created.

The whole file is checked first: a bad row, or a username or email (in any
case) that appears twice or belongs to someone already here, is reported with
its line, the command exits non-zero, and nothing of the file is imported.
--dry-run checks and reports without changing anything.`,
		Example: `  signet --config signet.yaml user import users_database.yml --dry-run
  signet --config signet.yaml user import people.jsonl`,
		Args: cobra.ExactArgs(1),
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		rows, err := readImportFile(args[0], format)
		if err != nil {
			return err
		}
		if verified {
			for i := range rows {
				rows[i].User.EmailVerified = true
			}
		}
		return c.manage(func(m admin.Manager) error {
			res, err := admin.ImportUsers.Call(cmd.Context(), m, admin.ImportInput{Users: rows, DryRun: dryRun})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if *output == "json" {
				if err := writeJSON(w, res); err != nil {
					return err
				}
			} else {
				for _, p := range res.Problems {
					fmt.Fprintf(w, "%s:%d: %s\n", args[0], p.Line, p.Msg)
				}
				switch {
				case len(res.Problems) > 0:
				case dryRun:
					fmt.Fprintf(w, "Dry run: would import %s", plural(res.Users, "user"))
				default:
					fmt.Fprintf(w, "Imported %s", plural(res.Users, "user"))
				}
				if len(res.Problems) == 0 {
					if len(res.CreatedGroups) > 0 {
						fmt.Fprintf(w, " and create %s: %s", plural(len(res.CreatedGroups), "group"), strings.Join(res.CreatedGroups, ", "))
					}
					fmt.Fprintln(w, ".")
				}
			}
			if len(res.Problems) > 0 {
				return fmt.Errorf("%s: %s; %w", args[0], plural(len(res.Problems), "problem"), errImportProblems)
			}
			return nil
		})
	}
	f := cmd.Flags()
	f.BoolVar(&dryRun, "dry-run", false, "check the file and report what would be imported; change nothing")
	f.StringVar(&format, "format", "", "authelia or jsonl (default: from the file's extension)")
	f.BoolVar(&verified, "email-verified", false, "mark every imported email as verified (the source vouches for them)")
	return cmd
}

func (c *cli) userExportCmd() *cobra.Command {
	var withHashes bool
	cmd := &cobra.Command{
		Use:   "export [--with-password-hashes]",
		Short: "Write every person as JSON Lines (the format user import reads)",
		Long: `Write every person to standard output, one JSON object per line, in the
format 'signet user import' reads. Password hashes are left out unless
--with-password-hashes is given: a file with them is as sensitive as the
database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.manage(func(m admin.Manager) error {
				users, err := admin.ExportUsers.Call(cmd.Context(), m, withHashes)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				for _, u := range users {
					if err := enc.Encode(u); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&withHashes, "with-password-hashes", false, "include each person's password hash")
	return cmd
}

// readImportFile reads path in format ("" chooses by extension) into rows
// that carry their line numbers.
func readImportFile(path, format string) ([]admin.ImportRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxImportFile {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, maxImportFile>>20)
	}
	if format == "" {
		format = "jsonl"
		if ext := strings.ToLower(filepath.Ext(path)); ext == ".yml" || ext == ".yaml" {
			format = "authelia"
		}
	}
	switch format {
	case "authelia":
		return readAuthelia(path, data)
	case "jsonl":
		return readJSONLines(path, data)
	}
	return nil, fmt.Errorf("--format must be authelia or jsonl, not %q", format)
}

// readAuthelia reads Authelia's users_database.yml. Fields Signet has no use
// for (given_name, locale, ...) are ignored; a user without a mapping, or a
// field of the wrong type, is an error naming its line.
func readAuthelia(path string, data []byte) ([]admin.ImportRow, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %v", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not an Authelia users file (want a mapping with users:)", path)
	}
	var users *yaml.Node
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "users" {
			users = top.Content[i+1]
		}
	}
	if users == nil || users.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not an Authelia users file (no users: mapping)", path)
	}
	var rows []admin.ImportRow
	for i := 0; i+1 < len(users.Content); i += 2 {
		name, body := users.Content[i], users.Content[i+1]
		var u struct {
			DisplayName string   `yaml:"displayname"`
			Password    string   `yaml:"password"`
			Email       string   `yaml:"email"`
			Groups      []string `yaml:"groups"`
			Disabled    bool     `yaml:"disabled"`
		}
		if err := body.Decode(&u); err != nil {
			return nil, fmt.Errorf("%s:%d: user %s: %v", path, name.Line, name.Value, err)
		}
		rows = append(rows, admin.ImportRow{Line: name.Line, User: admin.UserRecord{
			Username: name.Value, Email: u.Email, Name: u.DisplayName, Groups: u.Groups,
			Disabled: u.Disabled, PasswordHash: u.Password,
		}})
	}
	return rows, nil
}

// readJSONLines reads one UserRecord per non-blank line; unknown fields are
// errors, so that a typo does not silently drop data.
func readJSONLines(path string, data []byte) ([]admin.ImportRow, error) {
	var rows []admin.ImportRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var u admin.UserRecord
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&u); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON object on the line", path, line)
		}
		rows = append(rows, admin.ImportRow{Line: line, User: u})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return rows, nil
}
