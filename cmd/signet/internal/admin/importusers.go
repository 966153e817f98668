package admin

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-idp/signet/storage"
	"github.com/signet-idp/signet/web/credentials/password"
)

// maxImportRows bounds one import (the socket's body limit bounds it too).
const maxImportRows = 100_000

// UserRecord is one person in the JSON Lines format of user import and export
// (one object per line). PasswordHash is a PHC argon2id or a bcrypt hash; export
// includes it only when asked.
type UserRecord struct {
	ID            string   `json:"id,omitempty"`
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name,omitempty"`
	Groups        []string `json:"groups,omitempty"`
	Disabled      bool     `json:"disabled,omitempty"`
	PasswordHash  string   `json:"password_hash,omitempty"`
}

// ImportInput is a whole file of people, checked and stored all or nothing.
type ImportInput struct {
	Users  []ImportRow `json:"users"`
	DryRun bool        `json:"dry_run,omitempty"`
}

// ImportRow is a UserRecord with the line it was read from.
type ImportRow struct {
	Line int        `json:"line"`
	User UserRecord `json:"user"`
}

// ImportProblem is a row that cannot be imported.
type ImportProblem struct {
	Line int    `json:"line"`
	Msg  string `json:"message"`
}

// ImportResult says what an import did (or, with DryRun or problems, would do).
type ImportResult struct {
	Users         int             `json:"users"`
	CreatedGroups []string        `json:"created_groups,omitempty"`
	Problems      []ImportProblem `json:"problems,omitempty"`
	DryRun        bool            `json:"dry_run,omitempty"`
}

// ImportUsers checks every row (formats, password hashes, and duplicates of a
// username or an email, in any case, within the file or with people already
// here) and, if none has a problem and it is not a dry run, stores them all,
// creating the groups they name. With problems nothing is stored.
func (s *Service) ImportUsers(ctx context.Context, in ImportInput) (ImportResult, error) {
	res := ImportResult{DryRun: in.DryRun}
	if len(in.Users) > maxImportRows {
		return res, invalidf("at most %d people per import", maxImportRows)
	}
	existing, err := s.store.ListUsers(ctx)
	if err != nil {
		return res, fmt.Errorf("list users: %w", err)
	}
	names, emails, ids := map[string]string{}, map[string]string{}, map[string]bool{}
	for _, u := range existing {
		names[strings.ToLower(u.Username)] = "user " + u.Username + " already here"
		if u.Email != "" {
			emails[storage.FoldEmail(u.Email)] = "user " + u.Username + " already here"
		}
		ids[u.ID] = true
	}
	groups, err := s.store.ListGroups(ctx)
	if err != nil {
		return res, fmt.Errorf("list groups: %w", err)
	}
	known := map[string]bool{}
	for _, g := range groups {
		known[g.Name] = true
	}
	problem := func(line int, format string, args ...any) {
		res.Problems = append(res.Problems, ImportProblem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for _, row := range in.Users {
		u, line := row.User, row.Line
		if err := firstInvalid(validateUsername(u.Username)); err != nil {
			problem(line, "%v", err)
			continue
		}
		if err := validateEmail(u.Email); err != nil {
			problem(line, "user %s: %v", u.Username, err)
		}
		if err := validateText("name", u.Name); err != nil {
			problem(line, "user %s: %v", u.Username, err)
		}
		if u.ID != "" && (len(u.ID) > 64 || !allIn(u.ID, "_-")) {
			problem(line, "user %s: id must be 1 to 64 letters, digits, '_' or '-'", u.Username)
		} else if u.ID != "" && ids[u.ID] {
			problem(line, "user %s: id %s is taken", u.Username, u.ID)
		} else if _, err := s.store.GetClient(ctx, u.ID); u.ID != "" && err == nil {
			// A service account's tokens name its client id as subject.
			problem(line, "user %s: id %s is a client's id", u.Username, u.ID)
		}
		if u.PasswordHash != "" {
			if err := password.Check(u.PasswordHash); err != nil {
				problem(line, "user %s: the password hash is not usable (%v)", u.Username, err)
			}
		}
		if len(u.Groups) > maxUserGroups {
			problem(line, "user %s: at most %d groups", u.Username, maxUserGroups)
		}
		for _, g := range u.Groups {
			if err := validateGroupName(g); err != nil {
				problem(line, "user %s: %v", u.Username, err)
			}
		}
		if where, dup := names[strings.ToLower(u.Username)]; dup {
			problem(line, "username %s is a duplicate (%s)", u.Username, where)
		}
		names[strings.ToLower(u.Username)] = fmt.Sprintf("line %d", line)
		if u.Email != "" {
			if where, dup := emails[storage.FoldEmail(u.Email)]; dup {
				problem(line, "email %s is a duplicate (%s)", u.Email, where)
			}
			emails[storage.FoldEmail(u.Email)] = fmt.Sprintf("line %d", line)
		}
		if u.ID != "" {
			ids[u.ID] = true
		}
		for _, g := range u.Groups {
			if !known[g] && !slices.Contains(res.CreatedGroups, g) {
				res.CreatedGroups = append(res.CreatedGroups, g)
			}
		}
	}
	slices.Sort(res.CreatedGroups)
	res.Users = len(in.Users)
	if len(res.Problems) > 0 || in.DryRun {
		return res, nil
	}
	now := s.now().UTC()
	for _, g := range res.CreatedGroups {
		if err := s.store.CreateGroup(ctx, &storage.Group{Name: g, Description: "Imported", CreatedAt: now}); err != nil {
			return res, classify(err, "create group", fmt.Sprintf("group %q", g))
		}
	}
	var created []string
	for _, row := range in.Users {
		u := row.User
		id := cmp.Or(u.ID, randomHex(16))
		gs := slices.Clone(u.Groups)
		slices.Sort(gs)
		gs = slices.Compact(gs)
		err := s.store.CreateUser(ctx, &storage.User{
			ID: id, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
			Groups: gs, Disabled: u.Disabled, PasswordHash: u.PasswordHash, CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			// Someone added a person meanwhile: take back what this import
			// stored, so that the file is imported whole or not at all.
			for _, done := range created {
				s.store.DeleteUser(ctx, done)
			}
			return res, classify(err, "create user", fmt.Sprintf("user %q (line %d)", u.Username, row.Line))
		}
		created = append(created, id)
	}
	return res, nil
}

// ExportUsers returns every person as a UserRecord, with the password hash only
// when withHashes.
func (s *Service) ExportUsers(ctx context.Context, withHashes bool) ([]UserRecord, error) {
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]UserRecord, 0, len(users))
	for _, u := range users {
		r := UserRecord{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
			Name: u.Name, Groups: slices.Clone(u.Groups), Disabled: u.Disabled}
		if withHashes {
			r.PasswordHash = u.PasswordHash
		}
		out = append(out, r)
	}
	return out, nil
}
