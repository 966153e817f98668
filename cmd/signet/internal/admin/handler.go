package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// NewHandler returns the admin JSON API over m:
//
//	POST /v1/users                      AddUserInput -> 201 UserInfo
//	GET  /v1/users                      -> []UserInfo
//	GET  /v1/users/{username}           -> UserInfo
//	POST /v1/users/{username}/disable   -> 204
//	POST /v1/users/{username}/password  {"password": "..."} -> {"sessions": N, "refresh_families": M}
//	POST /v1/users/{username}/logout    -> LogoutResult
//	POST /v1/users/{username}/mfa/reset -> 204
//	POST /v1/users/{username}/unlock    -> UnlockResult
//	GET  /v1/users/{username}/grants    -> []GrantInfo
//	DELETE /v1/users/{username}/grants/{client} -> 204
//	POST /v1/clients                    AddClientInput -> 201 ClientCreated
//	GET  /v1/clients                    -> []ClientInfo
//	GET  /v1/clients/{id}               -> ClientInfo
//	DELETE /v1/clients/{id}             -> 204
//	GET  /v1/keys                       -> []KeyInfo
//	POST /v1/keys/rotate                {"alg": "RS256"|"ES256"|""} -> []KeyInfo
//	POST /v1/keys/{kid}/retire          -> []KeyInfo
//	POST /v1/keys/rewrap                RewrapInput -> RewrapResult
//
// Bodies are at most 64 KiB of JSON without unknown fields. Errors are
// {"error": "one line", "kind": "..."} with 400 (invalid), 404 (not found), 409
// (already exists, conflict) or 500; the message of a 500 is generic and the cause
// goes to slog.Default. Request bodies are never logged.
func NewHandler(m Manager) http.Handler {
	h := &handler{m: m, log: slog.Default()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users", h.addUser)
	mux.HandleFunc("GET /v1/users", h.listUsers)
	mux.HandleFunc("GET /v1/users/{username}", h.showUser)
	mux.HandleFunc("POST /v1/users/{username}/disable", h.disableUser)
	mux.HandleFunc("POST /v1/users/{username}/password", h.setPassword)
	mux.HandleFunc("POST /v1/users/{username}/logout", h.logoutUser)
	mux.HandleFunc("POST /v1/users/{username}/mfa/reset", h.resetMFA)
	mux.HandleFunc("POST /v1/users/{username}/unlock", h.unlockUser)
	mux.HandleFunc("GET /v1/users/{username}/grants", h.listGrants)
	mux.HandleFunc("DELETE /v1/users/{username}/grants/{client}", h.revokeGrant)
	mux.HandleFunc("POST /v1/clients", h.addClient)
	mux.HandleFunc("GET /v1/clients", h.listClients)
	mux.HandleFunc("GET /v1/clients/{id}", h.showClient)
	mux.HandleFunc("DELETE /v1/clients/{id}", h.removeClient)
	mux.HandleFunc("GET /v1/keys", h.listKeys)
	mux.HandleFunc("POST /v1/keys/rotate", h.rotateKeys)
	mux.HandleFunc("POST /v1/keys/{kid}/retire", h.retireKey)
	mux.HandleFunc("POST /v1/keys/rewrap", h.rewrapKeys)
	h.peopleRoutes(mux)
	h.apiRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, KindNotFound, "no such admin API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type handler struct {
	m   Manager
	log *slog.Logger
}

// setPasswordRequest is the body of POST /v1/users/{username}/password.
type setPasswordRequest struct {
	Password string `json:"password"`
}

func (h *handler) addUser(w http.ResponseWriter, r *http.Request) {
	var in AddUserInput
	if !readJSON(w, r, &in) {
		return
	}
	r.SetPathValue("username", in.Username) // so that the audit line names the new person
	u, err := h.m.AddUser(r.Context(), in)
	h.reply(w, r, http.StatusCreated, u, err)
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := h.m.ListUsers(r.Context())
	h.reply(w, r, http.StatusOK, us, err)
}

func (h *handler) showUser(w http.ResponseWriter, r *http.Request) {
	u, err := h.m.ShowUser(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusOK, u, err)
}

func (h *handler) disableUser(w http.ResponseWriter, r *http.Request) {
	err := h.m.DisableUser(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusNoContent, nil, err)
}

func (h *handler) setPassword(w http.ResponseWriter, r *http.Request) {
	var in setPasswordRequest
	if !readJSON(w, r, &in) {
		return
	}
	ended, err := h.m.SetPassword(r.Context(), r.PathValue("username"), in.Password)
	h.reply(w, r, http.StatusOK, ended, err)
}

func (h *handler) addClient(w http.ResponseWriter, r *http.Request) {
	var in AddClientInput
	if !readJSON(w, r, &in) {
		return
	}
	r.SetPathValue("id", in.ID) // so that the audit line names the new client
	c, err := h.m.AddClient(r.Context(), in)
	h.reply(w, r, http.StatusCreated, c, err)
}

func (h *handler) listClients(w http.ResponseWriter, r *http.Request) {
	cs, err := h.m.ListClients(r.Context())
	h.reply(w, r, http.StatusOK, cs, err)
}

func (h *handler) showClient(w http.ResponseWriter, r *http.Request) {
	c, err := h.m.ShowClient(r.Context(), r.PathValue("id"))
	h.reply(w, r, http.StatusOK, c, err)
}

func (h *handler) removeClient(w http.ResponseWriter, r *http.Request) {
	err := h.m.RemoveClient(r.Context(), r.PathValue("id"))
	h.reply(w, r, http.StatusNoContent, nil, err)
}

func (h *handler) logoutUser(w http.ResponseWriter, r *http.Request) {
	n, err := h.m.LogoutUser(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusOK, LogoutResult{Sessions: n}, err)
}

func (h *handler) unlockUser(w http.ResponseWriter, r *http.Request) {
	was, err := h.m.UnlockUser(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusOK, UnlockResult{WasLocked: was}, err)
}

func (h *handler) resetMFA(w http.ResponseWriter, r *http.Request) {
	err := h.m.ResetMFA(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusNoContent, nil, err)
}

func (h *handler) listGrants(w http.ResponseWriter, r *http.Request) {
	gs, err := h.m.ListGrants(r.Context(), r.PathValue("username"))
	h.reply(w, r, http.StatusOK, gs, err)
}

func (h *handler) revokeGrant(w http.ResponseWriter, r *http.Request) {
	err := h.m.RevokeGrant(r.Context(), r.PathValue("username"), r.PathValue("client"))
	h.reply(w, r, http.StatusNoContent, nil, err)
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := h.m.ListKeys(r.Context())
	h.reply(w, r, http.StatusOK, ks, err)
}

// rotateRequest is the body of POST /v1/keys/rotate.
type rotateRequest struct {
	Alg string `json:"alg"`
}

func (h *handler) rotateKeys(w http.ResponseWriter, r *http.Request) {
	var in rotateRequest
	if !readJSON(w, r, &in) {
		return
	}
	ks, err := h.m.RotateKeys(r.Context(), in.Alg)
	h.reply(w, r, http.StatusOK, ks, err)
}

func (h *handler) retireKey(w http.ResponseWriter, r *http.Request) {
	ks, err := h.m.RetireKey(r.Context(), r.PathValue("kid"))
	h.reply(w, r, http.StatusOK, ks, err)
}

func (h *handler) rewrapKeys(w http.ResponseWriter, r *http.Request) {
	var in RewrapInput
	if !readJSON(w, r, &in) {
		return
	}
	res, err := h.m.RewrapKeys(r.Context(), in)
	h.reply(w, r, http.StatusOK, res, err)
}

// reply writes v with status, or the error.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if r.Method != http.MethodGet {
		// Audit every change made through the admin API: what, on what, and the
		// outcome; never a body (it may hold a password).
		result := "ok"
		if err != nil {
			result = "error"
		}
		h.log.InfoContext(r.Context(), "admin action", "event", "admin", "action", r.Pattern,
			"username", r.PathValue("username"), "client", r.PathValue("id")+r.PathValue("client"), "kid", r.PathValue("kid"), "result", result)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Kind != KindInternal {
			writeError(w, statusOf(e.Kind), e.Kind, e.Msg)
			return
		}
		h.log.ErrorContext(r.Context(), "admin API", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, KindInternal, "internal error in the server; see its log")
		return
	}
	if v == nil || status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func statusOf(kind string) int {
	switch kind {
	case KindInvalid:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindExists, KindConflict:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

func writeError(w http.ResponseWriter, status int, kind, msg string) {
	writeJSON(w, status, errorBody{Error: oneLine(msg), Kind: kind})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our own types always marshal.
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error: cannot encode the response","kind":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readJSON decodes exactly one JSON value of at most maxBody bytes without unknown
// fields into v, or writes a 400 and returns false. The messages describe the
// problem, never the values (a body may hold a password).
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	return readJSONUpTo(w, r, v, maxBody)
}

// readJSONUpTo is readJSON with another body limit (a user import is larger).
func readJSONUpTo(w http.ResponseWriter, r *http.Request, v any, maxBody int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errors.New("more than one JSON value")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	msg := "request body is not valid JSON"
	switch {
	case errors.As(err, &tooBig):
		msg = fmt.Sprintf("request body larger than %d bytes", maxBody)
	case errors.As(err, &typeErr):
		msg = fmt.Sprintf("request body: field %q must be %s", typeErr.Field, typeErr.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		msg = "request body: " + strings.TrimPrefix(err.Error(), "json: ")
	case err.Error() == "more than one JSON value":
		msg = "request body holds more than one JSON value"
	case errors.Is(err, io.EOF):
		msg = "request body is empty"
	}
	writeError(w, http.StatusBadRequest, KindInvalid, msg)
	return false
}

// oneLine folds a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
