package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/signet-idp/signet/storage"
)

// emailKey is the unique email column's value: the folded email, or NULL when
// the person has none (many people may have none).
func emailKey(email string) (*string, error) {
	key := storage.FoldEmail(email)
	if key == "" {
		return nil, nil
	}
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("email: %w", err)
	}
	return &key, nil
}

// CreateUser stores u; it returns storage.ErrAlreadyExists when the id, the
// username or the email (compared with storage.FoldEmail) is taken.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	if err := checkKey(u.ID); err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	if err := checkKey(u.Username); err != nil {
		return fmt.Errorf("postgres: create user %q: username: %w", u.ID, err)
	}
	email, err := emailKey(u.Email)
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.ID, err)
	}
	data, err := encode(u)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO users (id, username, email_fold, data) VALUES ($1, $2, $3, $4)",
			u.ID, u.Username, email, data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create user %q: %w", u.ID, mapErr(err))
	}
	return nil
}

// GetUser returns the user, or storage.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (*storage.User, error) {
	return s.getUser(ctx, "id", id)
}

// GetUserByUsername returns the user with that username (compared byte for
// byte), or storage.ErrNotFound.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (*storage.User, error) {
	return s.getUser(ctx, "username", username)
}

// GetUserByEmail returns the user whose email folds to the same as email, or
// storage.ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*storage.User, error) {
	return s.getUser(ctx, "email_fold", storage.FoldEmail(email))
}

// getUser looks a user up by one of its unique columns (a constant of ours).
func (s *Store) getUser(ctx context.Context, column, key string) (*storage.User, error) {
	if !lookable(key) {
		return nil, fmt.Errorf("postgres: get user by %s: %w", column, storage.ErrNotFound)
	}
	u, err := getJSON[storage.User](ctx, s.pool, "SELECT data FROM users WHERE "+column+" = $1", key)
	if err != nil {
		return nil, fmt.Errorf("postgres: get user by %s %q: %w", column, key, mapErr(err))
	}
	return u, nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]*storage.User, error) {
	out, err := listJSON[storage.User](ctx, s.pool, "SELECT data FROM users ORDER BY username")
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", mapErr(err))
	}
	return out, nil
}

// UpdateUser loads the user under a row lock, calls fn and stores the result in
// one transaction: checking a TOTP code and recording it is atomic across
// replicas. An error from fn is returned as it is and changes nothing; so does
// an fn that changes ID or Username (an error then). An email another person
// has is storage.ErrAlreadyExists.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*storage.User) error) (*storage.User, error) {
	if !lookable(id) {
		return nil, fmt.Errorf("postgres: update user: %w", storage.ErrNotFound)
	}
	var u *storage.User
	var fnErr error
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		fnErr = nil
		if u, err = getJSON[storage.User](ctx, tx, "SELECT data FROM users WHERE id = $1 FOR NO KEY UPDATE", id); err != nil {
			return err
		}
		username := u.Username
		if fnErr = fn(u); fnErr != nil {
			return fnErr
		}
		if u.ID != id || u.Username != username {
			return fmt.Errorf("id or username: %w", errImmutableChanged)
		}
		email, err := emailKey(u.Email)
		if err != nil {
			return err
		}
		data, err := encode(u)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE users SET email_fold = $2, data = $3 WHERE id = $1", id, email, data)
		return err
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: update user %q: %w", id, err)
	}
	return u, nil
}

// DeleteUser removes the user, or returns storage.ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	return s.deleteOne(ctx, "user", "DELETE FROM users WHERE id = $1", id)
}

// CreateGroup stores g; it returns storage.ErrAlreadyExists when the name is taken.
func (s *Store) CreateGroup(ctx context.Context, g *storage.Group) error {
	if err := checkKey(g.Name); err != nil {
		return fmt.Errorf("postgres: create group: %w", err)
	}
	data, err := encode(g)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO groups (name, data) VALUES ($1, $2)", g.Name, data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create group %q: %w", g.Name, mapErr(err))
	}
	return nil
}

// GetGroup returns the group, or storage.ErrNotFound.
func (s *Store) GetGroup(ctx context.Context, name string) (*storage.Group, error) {
	if !lookable(name) {
		return nil, fmt.Errorf("postgres: get group: %w", storage.ErrNotFound)
	}
	g, err := getJSON[storage.Group](ctx, s.pool, "SELECT data FROM groups WHERE name = $1", name)
	if err != nil {
		return nil, fmt.Errorf("postgres: get group %q: %w", name, mapErr(err))
	}
	return g, nil
}

// ListGroups returns every group ordered by name.
func (s *Store) ListGroups(ctx context.Context) ([]*storage.Group, error) {
	out, err := listJSON[storage.Group](ctx, s.pool, "SELECT data FROM groups ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("postgres: list groups: %w", mapErr(err))
	}
	return out, nil
}

// DeleteGroup removes the group, or returns storage.ErrNotFound.
func (s *Store) DeleteGroup(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "group", "DELETE FROM groups WHERE name = $1", name)
}
