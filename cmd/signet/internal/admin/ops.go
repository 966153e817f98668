package admin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// The operations: each is a Service method and its name on the socket
// (POST /v1/<name>). A new operation is a method and one line here; the
// socket's handler and Client learn it from this table.
//
// A query reads, a change writes (and leaves an audit line when it comes
// through the socket). list and act adapt the methods that take no input or
// give no output.
var (
	AddUser          = change("user/add", (*Service).AddUser)
	ListUsers        = list("user/list", (*Service).ListUsers)
	ShowUser         = query("user/show", (*Service).ShowUser)
	UpdateUser       = change("user/update", (*Service).UpdateUser)
	DisableUser      = act("user/disable", (*Service).DisableUser)
	EnableUser       = act("user/enable", (*Service).EnableUser)
	RemoveUser       = change("user/remove", (*Service).RemoveUser)
	SetPassword      = change("user/set-password", (*Service).SetPassword)
	LogoutUser       = change("user/logout", (*Service).LogoutUser)
	UnlockUser       = change("user/unlock", (*Service).UnlockUser)
	ResetMFA         = act("user/mfa-reset", (*Service).ResetMFA)
	ListGrants       = query("user/grants", (*Service).ListGrants)
	RevokeGrant      = act("user/revoke-grant", (*Service).RevokeGrant)
	AddUserGroups    = change("user/add-group", (*Service).AddUserGroups)
	RemoveUserGroups = change("user/remove-group", (*Service).RemoveUserGroups)
	ImportUsers      = change("user/import", (*Service).ImportUsers).upTo(maxImportBody)
	ExportUsers      = query("user/export", (*Service).ExportUsers).audited() // it can hand out password hashes

	AddGroup    = change("group/add", (*Service).AddGroup)
	ListGroups  = list("group/list", (*Service).ListGroups)
	ShowGroup   = query("group/show", (*Service).ShowGroup)
	RemoveGroup = act("group/remove", (*Service).RemoveGroup)

	AddClient          = change("client/add", (*Service).AddClient)
	ListClients        = list("client/list", (*Service).ListClients)
	ShowClient         = query("client/show", (*Service).ShowClient)
	UpdateClient       = change("client/update", (*Service).UpdateClient)
	RotateClientSecret = change("client/rotate-secret", (*Service).RotateClientSecret)
	RemoveClient       = act("client/remove", (*Service).RemoveClient)

	AddAPI    = change("api/add", (*Service).AddAPI)
	ListAPIs  = list("api/list", (*Service).ListAPIs)
	ShowAPI   = query("api/show", (*Service).ShowAPI)
	RemoveAPI = act("api/remove", (*Service).RemoveAPI)

	ListKeys   = list("keys/list", (*Service).ListKeys)
	RotateKeys = change("keys/rotate", (*Service).RotateKeys)
	RetireKey  = change("keys/retire", (*Service).RetireKey)
	RewrapKeys = change("keys/rewrap", (*Service).RewrapKeys)
)

// maxImportBody bounds a user import sent over the socket; every other
// request is at most maxBody.
const maxImportBody = 64 << 20

// Manager is where an operation runs: a *Service does it on its store, a
// *Client asks the running server over its socket. Both give the same
// results and the same errors (*Error of the same kind and message).
type Manager interface {
	// manager seals the interface: Op.Call knows every implementation.
	manager()
}

func (*Service) manager() {}
func (*Client) manager()  {}

// None is the input of an operation that takes none and the output of one
// that gives none.
type None struct{}

// Op is one management operation from Req to Resp.
type Op[Req, Resp any] struct {
	name    string
	run     func(*Service, context.Context, Req) (Resp, error)
	changes bool  // audited when it comes through the socket
	audit   bool  // a read that is audited all the same (it hands out credentials)
	maxBody int64 // bound of the request body on the socket
}

// Call runs the operation on m.
func (op *Op[Req, Resp]) Call(ctx context.Context, m Manager, in Req) (Resp, error) {
	switch m := m.(type) {
	case *Service:
		return op.run(m, ctx, in)
	case *Client:
		var out Resp
		err := m.call(ctx, op.name, in, &out)
		return out, err
	}
	panic(fmt.Sprintf("admin: unknown Manager %T", m))
}

// ops is every operation, in the order of the table, for the handler.
var ops []route

// route is what the handler needs of an Op, whatever its types.
type route interface {
	path() string
	handle(h *handler, w http.ResponseWriter, r *http.Request)
}

func register[Req, Resp any](name string, changes bool, run func(*Service, context.Context, Req) (Resp, error)) *Op[Req, Resp] {
	op := &Op[Req, Resp]{name: name, run: run, changes: changes, maxBody: maxBody}
	for _, r := range ops {
		if r.path() == op.path() {
			panic("admin: operation " + name + " registered twice")
		}
	}
	ops = append(ops, op)
	return op
}

// query registers an operation that only reads.
func query[Req, Resp any](name string, run func(*Service, context.Context, Req) (Resp, error)) *Op[Req, Resp] {
	return register(name, false, run)
}

// change registers an operation that writes.
func change[Req, Resp any](name string, run func(*Service, context.Context, Req) (Resp, error)) *Op[Req, Resp] {
	return register(name, true, run)
}

// list registers a query without input.
func list[Resp any](name string, run func(*Service, context.Context) (Resp, error)) *Op[None, Resp] {
	return query(name, func(s *Service, ctx context.Context, _ None) (Resp, error) { return run(s, ctx) })
}

// act registers a change without output.
func act[Req any](name string, run func(*Service, context.Context, Req) error) *Op[Req, None] {
	return change(name, func(s *Service, ctx context.Context, in Req) (None, error) { return None{}, run(s, ctx, in) })
}

// upTo sets the operation's body limit on the socket.
func (op *Op[Req, Resp]) upTo(n int64) *Op[Req, Resp] {
	op.maxBody = n
	return op
}

// audited makes a read leave an audit line as a change does.
func (op *Op[Req, Resp]) audited() *Op[Req, Resp] {
	op.audit = true
	return op
}

func (op *Op[Req, Resp]) path() string { return "/v1/" + op.name }

// handle decodes the request into Req, runs the operation on the handler's
// Service and writes the answer.
func (op *Op[Req, Resp]) handle(h *handler, w http.ResponseWriter, r *http.Request) {
	var in Req
	if !readJSON(w, r, &in, op.maxBody) {
		return
	}
	out, err := op.run(h.svc, r.Context(), in)
	if op.changes || op.audit {
		h.audit(r.Context(), op.name, subject(op.name, in), err)
	}
	h.reply(w, r, out, err)
}

// subject is what an input names, for the audit line: a name given alone (its
// key follows the operation's noun), or the subject of an input struct.
// Passwords, secrets and keys never appear.
func subject(name string, in any) []any {
	switch in := in.(type) {
	case bool:
		if name == "user/export" {
			return []any{"with_password_hashes", in}
		}
	case string:
		if key, ok := subjectKeys[name]; ok {
			return []any{key, in}
		}
		noun, _, _ := strings.Cut(name, "/")
		return []any{subjectKeys[noun], in}
	case interface{ subject() []any }:
		return in.subject()
	}
	return nil
}

// subjectKeys are the audit keys of a name given alone, by operation or noun.
var subjectKeys = map[string]string{
	"user": "username", "group": "group", "client": "client", "api": "audience", "keys": "kid",
	"keys/rotate": "alg",
}

func (in AddUserInput) subject() []any      { return []any{"username", in.Username} }
func (in UpdateUserInput) subject() []any   { return []any{"username", in.Username} }
func (in SetPasswordInput) subject() []any  { return []any{"username", in.Username} }
func (in UserGroupsInput) subject() []any   { return []any{"username", in.Username, "groups", in.Groups} }
func (in GrantRef) subject() []any          { return []any{"username", in.Username, "client", in.ClientID} }
func (in AddGroupInput) subject() []any     { return []any{"group", in.Name} }
func (in AddClientInput) subject() []any    { return []any{"client", in.ID} }
func (in UpdateClientInput) subject() []any { return []any{"client", in.ID} }
func (in RotateSecretInput) subject() []any { return []any{"client", in.ID} }
func (in AddAPIInput) subject() []any       { return []any{"audience", in.Audience} }
func (in ImportInput) subject() []any       { return []any{"rows", len(in.Users), "dry_run", in.DryRun} }
