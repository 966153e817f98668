package postgres

import (
	"context"
	"fmt"

	"github.com/signet-idp/signet/storage"
)

// CreateAPI stores a; it returns storage.ErrAlreadyExists when the audience is
// taken.
func (s *Store) CreateAPI(ctx context.Context, a *storage.API) error {
	if err := checkKey(a.Audience); err != nil {
		return fmt.Errorf("postgres: create api: %w", err)
	}
	data, err := encode(a)
	if err == nil {
		_, err = s.pool.Exec(ctx, "INSERT INTO apis (audience, data) VALUES ($1, $2)", a.Audience, data)
	}
	if err != nil {
		return fmt.Errorf("postgres: create api %q: %w", a.Audience, mapErr(err))
	}
	return nil
}

// GetAPI returns the API, or storage.ErrNotFound.
func (s *Store) GetAPI(ctx context.Context, audience string) (*storage.API, error) {
	if !lookable(audience) {
		return nil, fmt.Errorf("postgres: get api: %w", storage.ErrNotFound)
	}
	a, err := getJSON[storage.API](ctx, s.pool, "SELECT data FROM apis WHERE audience = $1", audience)
	if err != nil {
		return nil, fmt.Errorf("postgres: get api %q: %w", audience, mapErr(err))
	}
	return a, nil
}

// ListAPIs returns every API ordered by audience.
func (s *Store) ListAPIs(ctx context.Context) ([]*storage.API, error) {
	out, err := listJSON[storage.API](ctx, s.pool, "SELECT data FROM apis ORDER BY audience")
	if err != nil {
		return nil, fmt.Errorf("postgres: list apis: %w", mapErr(err))
	}
	return out, nil
}

// DeleteAPI removes the API, or returns storage.ErrNotFound.
func (s *Store) DeleteAPI(ctx context.Context, audience string) error {
	return s.deleteOne(ctx, "api", "DELETE FROM apis WHERE audience = $1", audience)
}
