package obs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// NewLogHandler returns the handler of every log line: slog's text or JSON
// handler on w at level, behind a handler that adds the request id of the
// record's context and counts audit records into m (nil: no metrics). The
// level may change while the server runs (SIGHUP).
func NewLogHandler(w io.Writer, format string, level *slog.LevelVar, m *Metrics) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch format {
	case "", "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q is not text or json", format)
	}
	return &logHandler{next: h, metrics: m}, nil
}

// logHandler adds request_id and counts events. It is enabled at info and
// above whatever the output level, so that an audit record is counted even
// when the line itself is filtered out (log_level: warn still counts sign-ins).
type logHandler struct {
	next    slog.Handler
	metrics *Metrics
	// preset are the attributes added by Logger.With outside any group: an
	// "event" there counts like one in the record.
	preset []slog.Attr
	// grouped is set once WithGroup was called: later attributes are nested and
	// no longer name the event.
	grouped bool
}

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return (h.metrics != nil && level >= slog.LevelInfo) || h.next.Enabled(ctx, level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.metrics != nil {
		h.countRecord(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	if st := requestStateFrom(ctx); st != nil {
		r = r.Clone()
		r.AddAttrs(slog.String("request_id", st.id))
	}
	return h.next.Handle(ctx, r)
}

func (h *logHandler) countRecord(r slog.Record) {
	var e event
	read := func(a slog.Attr) bool {
		if a.Value.Kind() != slog.KindString {
			return true
		}
		switch a.Key {
		case "event":
			e.name = a.Value.String()
		case "grant_type":
			e.grant = a.Value.String()
		case "client":
			e.client = a.Value.String()
		case "alg":
			e.alg = a.Value.String()
		case "reason":
			e.locked = a.Value.String() == "locked"
		}
		return true
	}
	for _, a := range h.preset {
		read(a)
	}
	if !h.grouped {
		r.Attrs(read)
	}
	if e.name == "" {
		return
	}
	h.metrics.count(e)
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	if !h.grouped {
		c.preset = append(append([]slog.Attr(nil), h.preset...), as...)
	}
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	if name != "" {
		c.grouped = true
	}
	return &c
}

// requestState is what the middleware attaches to a request's context.
type requestState struct {
	id string
}

type requestStateKey struct{}

func requestStateFrom(ctx context.Context) *requestState {
	if ctx == nil {
		return nil
	}
	st, _ := ctx.Value(requestStateKey{}).(*requestState)
	return st
}

// RequestID returns the request id of ctx, or "" outside a request.
func RequestID(ctx context.Context) string {
	if st := requestStateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}
