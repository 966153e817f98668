// Package obs is Signet's observability plumbing, wired by main: the log
// handler (text or JSON, a request id on every line of a request), the HTTP
// middleware (request ids, the client's real address behind trusted proxies,
// an access line per request, request metrics by route) and the Prometheus
// registry served on its own listener.
//
// Most counters are not incremented where things happen: provider and web log
// each event once with an "event" attribute (login, login_failed, lockout,
// token_issued, refresh_reuse, ...), and the log handler counts those records
// into Prometheus counters before it filters by level. So the packages that
// decide what happened stay free of metric calls, the log and the metrics
// cannot disagree, and a new audit line is counted by adding one case here.
//
// The package owns no protocol logic; it never sees a token, a password or a
// cookie (it logs the path without the query, and no headers but the request id).
package obs
