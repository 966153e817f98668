package storagetest

import (
	"context"
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
}
