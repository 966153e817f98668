package storagetest

import (
	"testing"

	"github.com/signet-idp/signet/storage"
)

var clientTests = []test{
	{"CreateGetDelete", testClientCreateGetDelete},
	{"List", testClientList},
}

func newClient(id string) *storage.Client {
	return &storage.Client{
		ID:                     id,
		Name:                   "Client " + id,
		SecretHash:             []byte{1, 2, 3, 4},
		RedirectURIs:           []string{"https://" + id + ".example/cb", "http://127.0.0.1/cb"},
		FirstParty:             true,
		IDTokenAlg:             "ES256",
		AccessTokenFormat:      "opaque",
		PostLogoutRedirectURIs: []string{"https://" + id + ".example/bye"},
		BackchannelLogoutURI:   "https://" + id + ".example/logout",
		CreatedAt:              t0,
	}
}

func testClientCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetClient(ctx, "app")
	wantErr(t, err, storage.ErrNotFound, "get before create")

	c := newClient("app")
	must(t, s.CreateClient(ctx, c))
	got, err := s.GetClient(ctx, "app")
	must(t, err)
	wantEqual(t, got, c, "client")

	other := newClient("app")
	other.Name = "impostor"
	wantErr(t, s.CreateClient(ctx, other), storage.ErrAlreadyExists, "create with a taken id")
	got, err = s.GetClient(ctx, "app")
	must(t, err)
	wantEqual(t, got, c, "client after a refused create")

	pub := &storage.Client{ID: "spa", Public: true, RedirectURIs: []string{"https://spa.example/"}, CreatedAt: t0}
	must(t, s.CreateClient(ctx, pub))
	got, err = s.GetClient(ctx, "spa")
	must(t, err)
	wantEqual(t, got, pub, "public client")

	must(t, s.DeleteClient(ctx, "app"))
	_, err = s.GetClient(ctx, "app")
	wantErr(t, err, storage.ErrNotFound, "get after delete")
	wantErr(t, s.DeleteClient(ctx, "app"), storage.ErrNotFound, "delete twice")
	wantErr(t, s.DeleteClient(ctx, "never"), storage.ErrNotFound, "delete unknown")
	if _, err := s.GetClient(ctx, "spa"); err != nil {
		t.Fatalf("other client after delete: %v", err)
	}
}

func testClientList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	must(t, err)
	wantIDs(t, ids(list, clientID), nil, "empty store")

	for _, id := range []string{"m", "b", "z", "a"} {
		must(t, s.CreateClient(ctx, newClient(id)))
	}
	list, err = s.ListClients(ctx)
	must(t, err)
	wantIDs(t, ids(list, clientID), []string{"a", "b", "m", "z"}, "ListClients")
	wantEqual(t, list[2], newClient("m"), "listed client")

	must(t, s.DeleteClient(ctx, "b"))
	list, err = s.ListClients(ctx)
	must(t, err)
	wantIDs(t, ids(list, clientID), []string{"a", "m", "z"}, "ListClients after delete")
}

func clientID(c *storage.Client) string { return c.ID }
