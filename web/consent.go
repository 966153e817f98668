package web

import "net/http"

// consentRoutes registers the consent page and the account's app list.
func (h *Handler) consentRoutes(mux *http.ServeMux, page func(http.HandlerFunc) http.Handler) {
}
