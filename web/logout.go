package web

import "net/http"

// logoutRoutes registers RP-initiated logout (OpenID Connect RP-Initiated Logout
// 1.0): the end-session endpoint, its confirmation and the signed-out page.
func (h *Handler) logoutRoutes(mux *http.ServeMux, page func(http.HandlerFunc) http.Handler) {
}
