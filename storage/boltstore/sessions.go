package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// CreateSession stores the session; it returns storage.ErrAlreadyExists when the id
// is taken.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		if exists(tx, bucketSessions, sess.ID) {
			return refuse(storage.ErrAlreadyExists)
		}
		return putSession(tx, sess)
	})
	if err != nil {
		return fmt.Errorf("boltstore: create session %q: %w", sess.ID, err)
	}
	return nil
}

// putSession stores a new session with its index entries.
func putSession(tx *bolt.Tx, sess *storage.Session) error {
	if err := put(tx, bucketSessions, sess.ID, sess); err != nil {
		return err
	}
	if err := putUserSession(tx, sess); err != nil {
		return err
	}
	return putExpiry(tx, sess.ExpiresAt, kindSession, sess.ID)
}

func putUserSession(tx *bolt.Tx, sess *storage.Session) error {
	if sess.UserID == "" {
		return nil
	}
	if err := checkKey(sess.UserID); err != nil {
		return fmt.Errorf("user id: %w", err)
	}
	// The entry's value is the session's sid, so that GetUserSessionBySID
	// finds it without reading every session of the person.
	return tx.Bucket(bucketUserSessions).Put(indexKey(sess.UserID, sess.ID), []byte(sess.SID))
}

// GetUserSessionBySID finds the user's session by its sid through the user's
// index entries, whose values hold the sids; an entry written before they did
// (an empty value) is checked against its session record.
func (s *Store) GetUserSessionBySID(ctx context.Context, userID, sid string) (*storage.Session, error) {
	var found *storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if userID == "" || sid == "" {
			return storage.ErrNotFound
		}
		prefix := prefixKey(userID)
		c := tx.Bucket(bucketUserSessions).Cursor()
		for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
			if len(v) > 0 && string(v) != sid {
				continue
			}
			sess, err := getSession(tx, string(k[len(prefix):]))
			if err != nil {
				return err
			}
			if sess.SID == sid {
				found = sess
				return nil
			}
		}
		return storage.ErrNotFound
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get session of user %q by sid: %w", userID, err)
	}
	return found, nil
}

func getSession(tx *bolt.Tx, id string) (*storage.Session, error) {
	sess, err := sessionMemo.get(tx, bucketSessions, id)
	if err == nil && sess == nil {
		err = storage.ErrNotFound
	}
	return sess, err
}

// GetSession returns the session, expired or not, or storage.ErrNotFound.
func (s *Store) GetSession(ctx context.Context, id string) (*storage.Session, error) {
	var sess *storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		sess, err = getSession(tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: get session %q: %w", id, err)
	}
	return sess, nil
}

// UpdateSession loads the session, calls fn and stores the result in one transaction,
// moving its index entries when fn changed UserID or ExpiresAt. An error from fn is
// returned as it is and changes nothing; fn must not change ID.
func (s *Store) UpdateSession(ctx context.Context, id string, fn func(*storage.Session) error) (*storage.Session, error) {
	var sess *storage.Session
	var fnErr error
	// Shared with the token endpoint's commits: a refresh records session
	// activity here, and a commit of its own would hold the writer through two
	// syncs that the token writes queue behind. fnErr and sess are assigned,
	// not accumulated, so a re-run is harmless.
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		var err error
		fnErr = nil
		if sess, err = getSession(tx, id); err != nil {
			return refuse(err)
		}
		oldUserID, oldSID, oldExpiry := sess.UserID, sess.SID, sess.ExpiresAt
		if fnErr = fn(sess); fnErr != nil {
			return refuse(fnErr)
		}
		if sess.ID != id {
			return fmt.Errorf("id: %w", errImmutableChanged)
		}
		if sess.UserID != oldUserID || sess.SID != oldSID {
			if oldUserID != "" {
				if err := tx.Bucket(bucketUserSessions).Delete(indexKey(oldUserID, id)); err != nil {
					return err
				}
			}
			if err := putUserSession(tx, sess); err != nil {
				return err
			}
		}
		if err := moveExpiry(tx, oldExpiry, sess.ExpiresAt, kindSession, id); err != nil {
			return err
		}
		return put(tx, bucketSessions, id, sess)
	})
	if fnErr != nil {
		return nil, fnErr
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: update session %q: %w", id, err)
	}
	return sess, nil
}

// DeleteSession removes the session, or returns storage.ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		found, err := deleteSession(tx, id)
		if err == nil && !found {
			err = storage.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("boltstore: delete session %q: %w", id, err)
	}
	return nil
}

// deleteSession removes the session and its index entries; it reports whether the
// session existed.
func deleteSession(tx *bolt.Tx, id string) (bool, error) {
	sess, err := get[storage.Session](tx, bucketSessions, id)
	if err != nil || sess == nil {
		return false, err
	}
	if sess.UserID != "" {
		if err := tx.Bucket(bucketUserSessions).Delete(indexKey(sess.UserID, id)); err != nil {
			return false, err
		}
	}
	if err := deleteExpiry(tx, sess.ExpiresAt, kindSession, id); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketSessions).Delete([]byte(id))
}

// ListUserSessions returns the user's sessions, expired ones included, ordered by id.
func (s *Store) ListUserSessions(ctx context.Context, userID string) ([]*storage.Session, error) {
	var out []*storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if userID == "" {
			return nil
		}
		for _, id := range members(tx, bucketUserSessions, prefixKey(userID)) {
			sess, err := getSession(tx, id)
			if err != nil {
				return fmt.Errorf("session %q: %w", id, err)
			}
			out = append(out, sess)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list sessions of user %q: %w", userID, err)
	}
	return out, nil
}

// ListIdleSessions returns at most limit sessions last seen before lastSeenBefore.
// It reads every session: the janitor asks once a minute, and a session index by
// activity would cost a write to every touch.
func (s *Store) ListIdleSessions(ctx context.Context, lastSeenBefore time.Time, limit int) ([]*storage.Session, error) {
	var out []*storage.Session
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var sess storage.Session
			if err := json.Unmarshal(v, &sess); err != nil {
				return fmt.Errorf("decode session %q: %w", k, err)
			}
			if sess.LastSeen.Before(lastSeenBefore) {
				out = append(out, &sess)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: list idle sessions: %w", err)
	}
	return out, nil
}
