package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/signet-idp/signet/storage"
)

// maxBody bounds every request body but a user import's.
const maxBody = 64 << 10

// NewHandler returns the socket API of svc: every operation of the table in
// ops.go as
//
//	POST /v1/<name>   the operation's input as JSON -> 200 its output as JSON
//
// and, when backup is not nil, GET /v1/backup (a streamed copy of the
// database). Bodies are at most 64 KiB (a user import 64 MiB) of exactly one
// JSON value without unknown fields. Errors are {"error": "one line", "kind": "..."} with 400 (invalid),
// 404 (not found, also of an unknown endpoint), 409 (already exists,
// conflict) or 500; the message of a 500 is generic and the cause goes to the
// Service's log. Every change leaves an audit line there: what, on what, and
// the outcome. Request bodies are never logged.
func NewHandler(svc *Service, backup storage.Backupper) http.Handler {
	h := &handler{svc: svc, log: svc.log}
	mux := http.NewServeMux()
	for _, op := range ops {
		mux.HandleFunc("POST "+op.path(), func(w http.ResponseWriter, r *http.Request) { op.handle(h, w, r) })
	}
	if backup != nil {
		mux.HandleFunc("GET "+PathBackup, h.backup(backup))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, KindNotFound, "no such admin API endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type handler struct {
	svc *Service
	log *slog.Logger
}

// audit logs a change made through the socket: the operation, what it is
// about and the outcome; never a body (it may hold a password).
func (h *handler) audit(ctx context.Context, action string, subject []any, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	args := append([]any{"event", "admin", "action", action}, subject...)
	h.log.InfoContext(ctx, "admin action", append(args, "result", result)...)
}

// reply writes v, or the error.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
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
	writeJSON(w, http.StatusOK, v)
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

// readJSON decodes exactly one JSON value of at most maxBody bytes without
// unknown fields into v, or writes a 400 and returns false. The messages
// describe the problem, never the values (a body may hold a password).
func readJSON(w http.ResponseWriter, r *http.Request, v any, maxBody int64) bool {
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
