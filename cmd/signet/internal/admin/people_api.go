package admin

import (
	"context"
	"net/http"

	"github.com/signet-idp/signet/web/account"
)

// The admin API of people, groups and client changes:
//
//	POST   /v1/users/{username}/update        UpdateUserInput -> UserInfo
//	POST   /v1/users/{username}/enable        -> 204
//	DELETE /v1/users/{username}               -> account.Ended
//	POST   /v1/users/{username}/groups        {"groups": [...]} -> UserInfo
//	POST   /v1/users/{username}/groups/remove {"groups": [...]} -> UserInfo
//	POST   /v1/groups                         AddGroupInput -> 201 GroupInfo
//	GET    /v1/groups                         -> []GroupInfo
//	GET    /v1/groups/{name}                  -> GroupInfo with members
//	DELETE /v1/groups/{name}                  -> 204
//	POST   /v1/clients/{id}/update            UpdateClientInput -> ClientInfo
//	POST   /v1/clients/{id}/rotate-secret     RotateSecretInput -> SecretRotated
//	POST   /v1/users-import                   ImportInput (up to 64 MiB) -> ImportResult
//	GET    /v1/users-export[?hashes=true]     -> []UserRecord
func (h *handler) peopleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/users-import", func(w http.ResponseWriter, r *http.Request) {
		var in ImportInput
		if readJSONUpTo(w, r, &in, maxImportBody) {
			res, err := h.m.ImportUsers(r.Context(), in)
			h.reply(w, r, http.StatusOK, res, err)
		}
	})
	mux.HandleFunc("GET /v1/users-export", func(w http.ResponseWriter, r *http.Request) {
		us, err := h.m.ExportUsers(r.Context(), r.URL.Query().Get("hashes") == "true")
		h.reply(w, r, http.StatusOK, us, err)
	})
	mux.HandleFunc("POST /v1/users/{username}/update", func(w http.ResponseWriter, r *http.Request) {
		var in UpdateUserInput
		if readJSON(w, r, &in) {
			in.Username = r.PathValue("username")
			u, err := h.m.UpdateUser(r.Context(), in)
			h.reply(w, r, http.StatusOK, u, err)
		}
	})
	mux.HandleFunc("POST /v1/users/{username}/enable", func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, http.StatusNoContent, nil, h.m.EnableUser(r.Context(), r.PathValue("username")))
	})
	mux.HandleFunc("DELETE /v1/users/{username}", func(w http.ResponseWriter, r *http.Request) {
		ended, err := h.m.RemoveUser(r.Context(), r.PathValue("username"))
		h.reply(w, r, http.StatusOK, ended, err)
	})
	mux.HandleFunc("POST /v1/users/{username}/groups", func(w http.ResponseWriter, r *http.Request) {
		var in groupsRequest
		if readJSON(w, r, &in) {
			u, err := h.m.AddUserGroups(r.Context(), r.PathValue("username"), in.Groups)
			h.reply(w, r, http.StatusOK, u, err)
		}
	})
	mux.HandleFunc("POST /v1/users/{username}/groups/remove", func(w http.ResponseWriter, r *http.Request) {
		var in groupsRequest
		if readJSON(w, r, &in) {
			u, err := h.m.RemoveUserGroups(r.Context(), r.PathValue("username"), in.Groups)
			h.reply(w, r, http.StatusOK, u, err)
		}
	})
	mux.HandleFunc("POST /v1/groups", func(w http.ResponseWriter, r *http.Request) {
		var in AddGroupInput
		if readJSON(w, r, &in) {
			g, err := h.m.AddGroup(r.Context(), in)
			h.reply(w, r, http.StatusCreated, g, err)
		}
	})
	mux.HandleFunc("GET /v1/groups", func(w http.ResponseWriter, r *http.Request) {
		gs, err := h.m.ListGroups(r.Context())
		h.reply(w, r, http.StatusOK, gs, err)
	})
	mux.HandleFunc("GET /v1/groups/{name}", func(w http.ResponseWriter, r *http.Request) {
		g, err := h.m.ShowGroup(r.Context(), r.PathValue("name"))
		h.reply(w, r, http.StatusOK, g, err)
	})
	mux.HandleFunc("DELETE /v1/groups/{name}", func(w http.ResponseWriter, r *http.Request) {
		h.reply(w, r, http.StatusNoContent, nil, h.m.RemoveGroup(r.Context(), r.PathValue("name")))
	})
	mux.HandleFunc("POST /v1/clients/{id}/update", func(w http.ResponseWriter, r *http.Request) {
		var in UpdateClientInput
		if readJSON(w, r, &in) {
			in.ID = r.PathValue("id")
			c, err := h.m.UpdateClient(r.Context(), in)
			h.reply(w, r, http.StatusOK, c, err)
		}
	})
	mux.HandleFunc("POST /v1/clients/{id}/rotate-secret", func(w http.ResponseWriter, r *http.Request) {
		var in RotateSecretInput
		if readJSON(w, r, &in) {
			in.ID = r.PathValue("id")
			res, err := h.m.RotateClientSecret(r.Context(), in)
			h.reply(w, r, http.StatusOK, res, err)
		}
	})
}

// groupsRequest is the body of the user group changes.
type groupsRequest struct {
	Groups []string `json:"groups"`
}

// UpdateUser implements Manager.
func (c *Client) UpdateUser(ctx context.Context, in UpdateUserInput) (UserInfo, error) {
	var u UserInfo
	if err := validateUsername(in.Username); err != nil {
		return u, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(in.Username)+"/update", in, &u)
	return u, err
}

// EnableUser implements Manager.
func (c *Client) EnableUser(ctx context.Context, username string) error {
	if err := validateUsername(username); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/enable", nil, nil)
}

// RemoveUser implements Manager.
func (c *Client) RemoveUser(ctx context.Context, username string) (account.Ended, error) {
	var ended account.Ended
	if err := validateUsername(username); err != nil {
		return ended, err
	}
	err := c.do(ctx, http.MethodDelete, "/v1/users/"+pathSegment(username), nil, &ended)
	return ended, err
}

// AddUserGroups implements Manager.
func (c *Client) AddUserGroups(ctx context.Context, username string, groups []string) (UserInfo, error) {
	var u UserInfo
	if err := validateUsername(username); err != nil {
		return u, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/groups", groupsRequest{groups}, &u)
	return u, err
}

// RemoveUserGroups implements Manager.
func (c *Client) RemoveUserGroups(ctx context.Context, username string, groups []string) (UserInfo, error) {
	var u UserInfo
	if err := validateUsername(username); err != nil {
		return u, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/groups/remove", groupsRequest{groups}, &u)
	return u, err
}

// AddGroup implements Manager.
func (c *Client) AddGroup(ctx context.Context, in AddGroupInput) (GroupInfo, error) {
	var g GroupInfo
	err := c.do(ctx, http.MethodPost, "/v1/groups", in, &g)
	return g, err
}

// ListGroups implements Manager.
func (c *Client) ListGroups(ctx context.Context) ([]GroupInfo, error) {
	var gs []GroupInfo
	err := c.do(ctx, http.MethodGet, "/v1/groups", nil, &gs)
	return gs, err
}

// ShowGroup implements Manager.
func (c *Client) ShowGroup(ctx context.Context, name string) (GroupInfo, error) {
	var g GroupInfo
	if err := validateGroupName(name); err != nil {
		return g, err
	}
	err := c.do(ctx, http.MethodGet, "/v1/groups/"+pathSegment(name), nil, &g)
	return g, err
}

// RemoveGroup implements Manager.
func (c *Client) RemoveGroup(ctx context.Context, name string) error {
	if err := validateGroupName(name); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/v1/groups/"+pathSegment(name), nil, nil)
}

// UpdateClient implements Manager.
func (c *Client) UpdateClient(ctx context.Context, in UpdateClientInput) (ClientInfo, error) {
	var ci ClientInfo
	if err := validateClientID(in.ID); err != nil {
		return ci, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/clients/"+pathSegment(in.ID)+"/update", in, &ci)
	return ci, err
}

// RotateClientSecret implements Manager.
func (c *Client) RotateClientSecret(ctx context.Context, in RotateSecretInput) (SecretRotated, error) {
	var res SecretRotated
	if err := validateClientID(in.ID); err != nil {
		return res, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/clients/"+pathSegment(in.ID)+"/rotate-secret", in, &res)
	return res, err
}

// maxImportBody bounds a user import sent over the socket.
const maxImportBody = 64 << 20

// ImportUsers implements Manager.
func (c *Client) ImportUsers(ctx context.Context, in ImportInput) (ImportResult, error) {
	var res ImportResult
	err := c.do(ctx, http.MethodPost, "/v1/users-import", in, &res)
	return res, err
}

// ExportUsers implements Manager.
func (c *Client) ExportUsers(ctx context.Context, withHashes bool) ([]UserRecord, error) {
	var us []UserRecord
	path := "/v1/users-export"
	if withHashes {
		path += "?hashes=true"
	}
	err := c.do(ctx, http.MethodGet, path, nil, &us)
	return us, err
}
