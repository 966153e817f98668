package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var grantTests = []test{
	{"put get list delete", func(t *testing.T, s storage.Store) {
		ctx := context.Background()
		g := &storage.Grant{UserID: "u1", ClientID: "b", Scopes: []string{"openid", "email"}, Declined: []string{"profile"}, CreatedAt: t0, UpdatedAt: t0}
		must(t, s.PutGrant(ctx, g))
		must(t, s.PutGrant(ctx, &storage.Grant{UserID: "u1", ClientID: "a", Scopes: []string{"openid"}, CreatedAt: t0, UpdatedAt: t0}))
		must(t, s.PutGrant(ctx, &storage.Grant{UserID: "u10", ClientID: "a", Scopes: []string{"openid"}, CreatedAt: t0, UpdatedAt: t0}))
		got, err := s.GetGrant(ctx, "u1", "b")
		must(t, err)
		wantEqual(t, got, g, "grant")
		_, err = s.GetGrant(ctx, "u1", "c")
		wantErr(t, err, storage.ErrNotFound, "missing grant")

		// Replace.
		g2 := *g
		g2.Scopes, g2.Declined, g2.UpdatedAt = []string{"openid", "email", "profile"}, nil, t0.Add(time.Hour)
		must(t, s.PutGrant(ctx, &g2))
		got, err = s.GetGrant(ctx, "u1", "b")
		must(t, err)
		wantEqual(t, got, &g2, "replaced grant")

		list, err := s.ListUserGrants(ctx, "u1")
		must(t, err)
		if len(list) != 2 || list[0].ClientID != "a" || list[1].ClientID != "b" {
			t.Fatalf("grants of u1: %+v", list)
		}
		must(t, s.DeleteGrant(ctx, "u1", "a"))
		wantErr(t, s.DeleteGrant(ctx, "u1", "a"), storage.ErrNotFound, "delete twice")
		list, err = s.ListUserGrants(ctx, "u1")
		must(t, err)
		if len(list) != 1 || list[0].ClientID != "b" {
			t.Fatalf("grants of u1 after delete: %+v", list)
		}
		list, err = s.ListUserGrants(ctx, "u10")
		must(t, err)
		if len(list) != 1 {
			t.Fatalf("grants of u10 (prefix of no other user): %+v", list)
		}
	}},
	{"update is atomic", func(t *testing.T, s storage.Store) {
		ctx := context.Background()
		// Approvals of different scopes at once (two tabs): each adds its own
		// to what it finds, and none is lost.
		const n = 12
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.UpdateGrant(ctx, "u1", "app", func(cur *storage.Grant) (*storage.Grant, error) {
					next := &storage.Grant{UserID: "u1", ClientID: "app", CreatedAt: t0, UpdatedAt: t0}
					if cur != nil {
						next.Scopes = slices.Clone(cur.Scopes)
					}
					next.Scopes = append(next.Scopes, fmt.Sprint("scope", i))
					return next, nil
				})
			})
		}
		wg.Wait()
		for _, err := range errs {
			must(t, err)
		}
		g, err := s.GetGrant(ctx, "u1", "app")
		must(t, err)
		if len(g.Scopes) != n {
			t.Fatalf("after %d concurrent approvals the grant holds %d scopes: %v", n, len(g.Scopes), g.Scopes)
		}
		// An error from fn stores nothing.
		refused := errors.New("refused")
		_, err = s.UpdateGrant(ctx, "u1", "app", func(*storage.Grant) (*storage.Grant, error) { return nil, refused })
		wantErr(t, err, refused, "UpdateGrant with a failing fn")
		after, err := s.GetGrant(ctx, "u1", "app")
		must(t, err)
		wantEqual(t, after, g, "grant after a refused update")
	}},
}
