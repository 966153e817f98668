package provider

import (
	"bytes"
	"context"
	"net/http"
	"time"
)

// outageAware keeps a storage outage from passing for a verdict on a token. The
// library answers userinfo, introspection and revocation through op.Storage and
// turns any storage error into "invalid token", {"active":false} or an error:
// a resource server would then drop a session that is fine. So the answer is
// held; a negative one is sent only if storage still answers a ping, and
// otherwise becomes 503 temporarily_unavailable with Retry-After (RFC 7009
// section 2.2.1 names it for revocation). Positive answers cost nothing extra.
//
// Revocation is held whatever it answers (always): its 200 also stands for
// "unknown token, nothing to do", which a storage error can produce too, and a
// client that believes its token revoked when it is not is worse than one
// told to try again.
func (p *Provider) outageAware(next http.Handler, always bool) http.Handler {
	if p.cfg.Ping == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held := &heldResponse{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(held, r)
		if always || held.negative() {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			err := p.cfg.Ping(ctx)
			cancel()
			if err != nil {
				p.unavailable(w, r, err)
				return
			}
		}
		h := w.Header()
		for k, v := range held.header {
			h[k] = v
		}
		w.WriteHeader(held.status)
		w.Write(held.body.Bytes())
	})
}

// heldResponse is a response kept in memory until it is known to stand. The
// endpoints it holds answer a few hundred bytes.
type heldResponse struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if !h.wroteHeader {
		h.status, h.wroteHeader = status, true
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.wroteHeader = true
	return h.body.Write(b)
}

// negative reports whether the answer refuses the token or the request: an
// error status, or an introspection's "active": false.
func (h *heldResponse) negative() bool {
	return h.status >= 400 || bytes.Contains(h.body.Bytes(), []byte(`"active":false`))
}
