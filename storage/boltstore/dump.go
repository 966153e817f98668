package boltstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// Export lists every durable record in one read transaction (one consistent
// instant), for signet storage import.
func (s *Store) Export(ctx context.Context) (*storage.Dump, error) {
	d := &storage.Dump{}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		if d.Clients, err = listJSON[storage.Client](tx, bucketClients); err != nil {
			return err
		}
		if d.Users, err = listJSON[storage.User](tx, bucketUsers); err != nil {
			return err
		}
		if d.Groups, err = listJSON[storage.Group](tx, bucketGroups); err != nil {
			return err
		}
		if d.APIs, err = listJSON[storage.API](tx, bucketAPIs); err != nil {
			return err
		}
		if d.Grants, err = listJSON[storage.Grant](tx, bucketGrants); err != nil {
			return err
		}
		if d.Keys, err = listJSON[storage.SigningKey](tx, bucketKeys); err != nil {
			return err
		}
		if d.Sessions, err = listJSON[storage.Session](tx, bucketSessions); err != nil {
			return err
		}
		if d.Families, err = listRecords(tx, bucketFamilies, decodeFamily); err != nil {
			return err
		}
		if d.RefreshTokens, err = listRecords(tx, bucketRefreshTokens, decodeRefreshToken); err != nil {
			return err
		}
		if d.AccessTokens, err = listJSON[storage.AccessToken](tx, bucketAccessTokens); err != nil {
			return err
		}
		if d.Logouts, err = listJSON[storage.LogoutDelivery](tx, bucketLogouts); err != nil {
			return err
		}
		// An access token of a revoked family is revoked (as GetAccessToken
		// answers): the copy says so on the token itself.
		revoked := map[string]bool{}
		for _, f := range d.Families {
			revoked[f.ID] = f.Revoked
		}
		for _, at := range d.AccessTokens {
			at.Revoked = at.Revoked || revoked[at.RefreshFamilyID]
		}
		// A revoked JWT id keeps its expiry only in the expiry index.
		expiries := map[string]time.Time{}
		err = forEach(tx, bucketExpiry, func(k, _ []byte) error {
			if len(k) > 9 && k[8] == kindRevokedJTI {
				expiries[string(k[8:])] = fromSortableNanos(binary.BigEndian.Uint64(k[:8]))
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = forEach(tx, bucketSessionClients, func(k, v []byte) error {
			n, w := binary.Uvarint(k)
			if w <= 0 || uint64(len(k)-w) < n || len(v) != 8 {
				return fmt.Errorf("session client record %q", k)
			}
			sid, client := string(k[w:w+int(n)]), string(k[w+int(n):])
			d.SessionClients = append(d.SessionClients, storage.SessionClient{SID: sid, ClientID: client,
				ExpiresAt: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()})
			return nil
		})
		if err != nil {
			return err
		}
		err = forEach(tx, bucketRevokedJTIs, func(k, _ []byte) error {
			d.RevokedJWTs = append(d.RevokedJWTs, storage.RevokedJWT{JTI: string(k),
				ExpiresAt: expiries[string(kindRevokedJTI)+string(k)]})
			return nil
		})
		if err != nil {
			return err
		}
		// Every used assertion id, expired or not: the importer decides.
		return forEach(tx, bucketAssertionJTIs, func(k, v []byte) error {
			n, w := binary.Uvarint(k)
			if w <= 0 || uint64(len(k)-w) < n || len(v) != 8 {
				return fmt.Errorf("assertion jti record %q", k)
			}
			d.AssertionJTIs = append(d.AssertionJTIs, storage.UsedAssertion{ClientID: string(k[w : w+int(n)]),
				JTI: string(k[w+int(n):]), ExpiresAt: fromSortableNanos(binary.BigEndian.Uint64(v))})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: export: %w", err)
	}
	return d, nil
}
