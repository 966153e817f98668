package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var logoutTests = []test{
	{"session clients", func(t *testing.T, s storage.Store) {
		ctx := context.Background()
		must(t, s.AddSessionClient(ctx, "sid1", "b", t0.Add(time.Hour)))
		must(t, s.AddSessionClient(ctx, "sid1", "a", t0.Add(time.Hour)))
		must(t, s.AddSessionClient(ctx, "sid1", "a", t0.Add(2*time.Hour))) // again: no duplicate
		must(t, s.AddSessionClient(ctx, "sid10", "c", t0.Add(time.Hour)))
		got, err := s.ListSessionClients(ctx, "sid1")
		must(t, err)
		wantEqual(t, got, []string{"a", "b"}, "clients of sid1")
		got, err = s.ListSessionClients(ctx, "none")
		must(t, err)
		wantEqual(t, len(got), 0, "clients of an unknown sid")
		// b expires with its session; a was extended.
		_, err = s.DeleteExpired(ctx, t0.Add(90*time.Minute), 100)
		must(t, err)
		got, err = s.ListSessionClients(ctx, "sid1")
		must(t, err)
		wantEqual(t, got, []string{"a"}, "clients of sid1 after expiry")
	}},
	{"deliveries due in order", func(t *testing.T, s storage.Store) {
		ctx := context.Background()
		mk := func(id string, next time.Time) *storage.LogoutDelivery {
			return &storage.LogoutDelivery{ID: id, ClientID: "c", SID: "s", Subject: "u", CreatedAt: t0, NextAttempt: next, ExpiresAt: t0.Add(24 * time.Hour)}
		}
		must(t, s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{mk("late", t0.Add(time.Minute)), mk("now", t0), mk("early", t0.Add(-time.Minute))}))
		wantErr(t, s.EnqueueLogouts(ctx, []*storage.LogoutDelivery{mk("now", t0)}), storage.ErrAlreadyExists, "duplicate id")
		due, err := s.DueLogouts(ctx, t0, 10)
		must(t, err)
		if len(due) != 2 || due[0].ID != "early" || due[1].ID != "now" {
			t.Fatalf("due at t0: %v", deliveryIDs(due))
		}
		due, err = s.DueLogouts(ctx, t0.Add(time.Hour), 1)
		must(t, err)
		if len(due) != 1 || due[0].ID != "early" {
			t.Fatalf("limit 1: %v", deliveryIDs(due))
		}
		// A failed attempt reschedules.
		must(t, s.UpdateLogout(ctx, "early", func(d *storage.LogoutDelivery) error {
			d.Attempts++
			d.NextAttempt = t0.Add(time.Hour)
			d.LastError = "503"
			return nil
		}))
		due, err = s.DueLogouts(ctx, t0.Add(2*time.Minute), 10)
		must(t, err)
		if len(due) != 2 || due[0].ID != "now" || due[1].ID != "late" {
			t.Fatalf("after reschedule: %v", deliveryIDs(due))
		}
		due, err = s.DueLogouts(ctx, t0.Add(time.Hour), 10)
		must(t, err)
		if len(due) != 3 || due[2].ID != "early" || due[2].Attempts != 1 || due[2].LastError != "503" {
			t.Fatalf("rescheduled delivery: %+v", due)
		}
		wantErr(t, s.UpdateLogout(ctx, "missing", func(*storage.LogoutDelivery) error { return nil }), storage.ErrNotFound, "update missing")
		wantErr(t, s.UpdateLogout(ctx, "now", func(*storage.LogoutDelivery) error { return errBoom }), errBoom, "update error")
		must(t, s.DeleteLogout(ctx, "now"))
		wantErr(t, s.DeleteLogout(ctx, "now"), storage.ErrNotFound, "delete twice")
		due, err = s.DueLogouts(ctx, t0.Add(time.Hour), 10)
		must(t, err)
		if len(due) != 2 {
			t.Fatalf("after delete: %v", deliveryIDs(due))
		}
		// Abandoned after ExpiresAt.
		n, err := s.DeleteExpired(ctx, t0.Add(25*time.Hour), 100)
		must(t, err)
		if n < 2 {
			t.Fatalf("DeleteExpired removed %d deliveries, want 2", n)
		}
		due, err = s.DueLogouts(ctx, t0.Add(48*time.Hour), 10)
		must(t, err)
		if len(due) != 0 {
			t.Fatalf("expired deliveries still due: %v", deliveryIDs(due))
		}
	}},
}

func deliveryIDs(ds []*storage.LogoutDelivery) []string {
	return ids(ds, func(d *storage.LogoutDelivery) string { return d.ID })
}
