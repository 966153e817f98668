package boltstore

import (
	"slices"
	"sync"

	"github.com/signet-idp/signet/storage"
)

// clientCache keeps the decoded clients that GetClient returned: every token
// request reads its client (twice, through the library), and decoding the
// record was 5 % of the server's CPU per refresh. It is exact, not
// time-bounded: bbolt's file lock lets one process open the database, and every
// change of a client in that process (the admin socket included) goes through
// CreateClient, UpdateClient or DeleteClient, which empty the cache once their
// transaction has ended.
//
// A reader fills the cache only if no client was changed since before its read
// transaction began (gen): a read that began before a change committed would
// otherwise put the old record back after the change emptied the cache.
type clientCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[string]*storage.Client
}

// get returns a copy of the cached client, or the generation a reader must
// pass to add.
func (c *clientCache) get(id string) (*storage.Client, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.m[id]; ok {
		return cloneClient(v), c.gen
	}
	return nil, c.gen
}

// add caches a copy of v, read in a transaction that began after get returned gen.
func (c *clientCache) add(gen uint64, v *storage.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a client changed meanwhile: v may be the old record
	}
	if c.m == nil {
		c.m = make(map[string]*storage.Client)
	}
	c.m[v.ID] = cloneClient(v)
}

// invalidate empties the cache after a write to the clients bucket ended
// (committed or not).
func (c *clientCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.m)
}

// cloneClient is a deep copy: callers own what GetClient returns and may change
// it (slices included) without touching the cache.
func cloneClient(c *storage.Client) *storage.Client {
	out := *c
	out.SecretHash = slices.Clone(c.SecretHash)
	out.RedirectURIs = slices.Clone(c.RedirectURIs)
	out.AllowedScopes = slices.Clone(c.AllowedScopes)
	out.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	out.AllowedGroups = slices.Clone(c.AllowedGroups)
	out.GrantTypes = slices.Clone(c.GrantTypes)
	out.JWKS = slices.Clone(c.JWKS)
	out.PreviousSecretHash = slices.Clone(c.PreviousSecretHash)
	return &out
}
