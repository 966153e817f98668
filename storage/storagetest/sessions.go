package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

var sessionTests = []test{
	{"CreateGetDelete", testSessionCreateGetDelete},
	{"Update", testSessionUpdate},
	{"ListUserSessions", testListUserSessions},
	{"ListIdleSessions", testListIdleSessions},
	{"GetUserSessionBySID", testGetUserSessionBySID},
}

func testListIdleSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i, seen := range []time.Duration{-3 * time.Hour, -2 * time.Hour, -time.Minute, 0} {
		sess := newSession(string(rune('a'+i)), "u1", t0.Add(time.Hour))
		sess.LastSeen = t0.Add(seen)
		must(t, s.CreateSession(ctx, sess))
	}
	got, err := s.ListIdleSessions(ctx, t0.Add(-time.Hour), 10)
	must(t, err)
	wantIDs(t, slices.Sorted(slices.Values(ids(got, sessionID))), []string{"a", "b"}, "sessions idle for more than an hour")
	got, err = s.ListIdleSessions(ctx, t0.Add(time.Second), 3)
	must(t, err)
	if len(got) != 3 {
		t.Fatalf("limit 3 returned %d sessions", len(got))
	}
	// A touch takes a session off the list.
	_, err = s.UpdateSession(ctx, "a", func(x *storage.Session) error { x.LastSeen = t0; return nil })
	must(t, err)
	got, err = s.ListIdleSessions(ctx, t0.Add(-time.Hour), 10)
	must(t, err)
	wantIDs(t, ids(got, sessionID), []string{"b"}, "after a touch")
}

func newSession(id, userID string, expiresAt time.Time) *storage.Session {
	return &storage.Session{
		ID:        id,
		SID:       "sid-" + id,
		UserID:    userID,
		AuthTime:  t0.Add(-time.Minute),
		AMR:       []string{"pwd", "otp"},
		ACR:       "mfa",
		CreatedAt: t0.Add(-time.Minute),
		LastSeen:  t0,
		ExpiresAt: expiresAt,
	}
}

func sessionID(s *storage.Session) string { return s.ID }

func testSessionCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	sess := newSession("s1", "u1", t0.Add(time.Hour))
	must(t, s.CreateSession(ctx, sess))
	got, err := s.GetSession(ctx, "s1")
	must(t, err)
	wantEqual(t, got, sess, "session")

	wantErr(t, s.CreateSession(ctx, newSession("s1", "u2", t0)), storage.ErrAlreadyExists, "create with a taken id")
	_, err = s.GetSession(ctx, "s2")
	wantErr(t, err, storage.ErrNotFound, "get unknown")

	must(t, s.DeleteSession(ctx, "s1"))
	_, err = s.GetSession(ctx, "s1")
	wantErr(t, err, storage.ErrNotFound, "get after delete")
	wantErr(t, s.DeleteSession(ctx, "s1"), storage.ErrNotFound, "delete twice")
	_, err = s.UpdateSession(ctx, "s1", func(*storage.Session) error { return nil })
	wantErr(t, err, storage.ErrNotFound, "update after delete")
}

func testSessionUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateSession(ctx, newSession("s1", "u1", t0.Add(time.Hour))))
	want := newSession("s1", "u1", t0.Add(2*time.Hour))
	want.LastSeen, want.AMR, want.ACR = t0.Add(time.Minute), []string{"pwd"}, ""

	got, err := s.UpdateSession(ctx, "s1", func(sess *storage.Session) error {
		sess.LastSeen, sess.AMR, sess.ACR, sess.ExpiresAt = want.LastSeen, want.AMR, want.ACR, want.ExpiresAt
		return nil
	})
	must(t, err)
	wantEqual(t, got, want, "UpdateSession result")
	stored, err := s.GetSession(ctx, "s1")
	must(t, err)
	wantEqual(t, stored, want, "stored session")

	_, err = s.UpdateSession(ctx, "s1", func(sess *storage.Session) error {
		sess.ExpiresAt = t0.Add(-time.Hour)
		return errBoom
	})
	wantErr(t, err, errBoom, "UpdateSession with a failing fn")
	stored, err = s.GetSession(ctx, "s1")
	must(t, err)
	wantEqual(t, stored, want, "session after an aborted update")
}

func testListUserSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	must(t, s.CreateSession(ctx, newSession("a2", "u1", t0.Add(time.Hour))))
	must(t, s.CreateSession(ctx, newSession("a1", "u1", t0.Add(-time.Hour)))) // expired
	must(t, s.CreateSession(ctx, newSession("b1", "u2", t0.Add(time.Hour))))
	// A user id that starts like another must not see its sessions.
	must(t, s.CreateSession(ctx, newSession("c1", "u10", t0.Add(time.Hour))))

	for _, tc := range []struct {
		user string
		want []string
	}{
		{"u1", []string{"a1", "a2"}},
		{"u2", []string{"b1"}},
		{"u10", []string{"c1"}},
		{"nobody", nil},
	} {
		list, err := s.ListUserSessions(ctx, tc.user)
		must(t, err)
		got := ids(list, sessionID)
		slices.Sort(got)
		wantIDs(t, got, tc.want, "ListUserSessions("+tc.user+")")
	}

	must(t, s.DeleteSession(ctx, "a1"))
	list, err := s.ListUserSessions(ctx, "u1")
	must(t, err)
	wantIDs(t, ids(list, sessionID), []string{"a2"}, "ListUserSessions after delete")
	wantEqual(t, list[0], newSession("a2", "u1", t0.Add(time.Hour)), "listed session")
}

func testGetUserSessionBySID(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i, user := range []string{"u1", "u1", "u1", "u2"} {
		sess := newSession(fmt.Sprint("sess-", i), user, t0.Add(time.Duration(i-1)*time.Hour))
		sess.SID = fmt.Sprint("sid-", i)
		must(t, s.CreateSession(ctx, sess))
	}
	for _, tc := range []struct{ user, sid, want string }{
		{"u1", "sid-0", "sess-0"}, // expired sessions are found too
		{"u1", "sid-2", "sess-2"},
		{"u2", "sid-3", "sess-3"},
		{"u2", "sid-0", ""}, // another person's
		{"u1", "sid-x", ""},
		{"u1", "", ""},
	} {
		got, err := s.GetUserSessionBySID(ctx, tc.user, tc.sid)
		if tc.want == "" {
			wantErr(t, err, storage.ErrNotFound, fmt.Sprintf("GetUserSessionBySID(%s, %q)", tc.user, tc.sid))
			continue
		}
		must(t, err)
		if got.ID != tc.want || got.SID != tc.sid {
			t.Errorf("GetUserSessionBySID(%s, %s) = %s (sid %s), want %s", tc.user, tc.sid, got.ID, got.SID, tc.want)
		}
	}
	// A sid changed by UpdateSession is found under its new value only.
	_, err := s.UpdateSession(ctx, "sess-2", func(x *storage.Session) error { x.SID = "sid-new"; return nil })
	must(t, err)
	_, err = s.GetUserSessionBySID(ctx, "u1", "sid-2")
	wantErr(t, err, storage.ErrNotFound, "the old sid after UpdateSession changed it")
	got, err := s.GetUserSessionBySID(ctx, "u1", "sid-new")
	must(t, err)
	if got.ID != "sess-2" {
		t.Errorf("new sid finds %s, want sess-2", got.ID)
	}
	must(t, s.DeleteSession(ctx, "sess-2"))
	_, err = s.GetUserSessionBySID(ctx, "u1", "sid-new")
	wantErr(t, err, storage.ErrNotFound, "the sid of a deleted session")
}
