package web

import (
	"context"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// scopeRules is the consent policy that the sign-in's completion, both
// approval pages (an application's and a device's) and the account overview
// follow: how a scope is described, which may be declined, what a request must
// still ask, what a grant gives, and how an approval is recorded.
type scopeRules struct {
	registry []Scope
	// apis name the API each scope belongs to, under which the approval pages
	// group it.
	apis storage.APIs
	log  *slog.Logger
}

// scope returns the registry entry of name; unknown scopes are required and
// described by their name.
func (sr *scopeRules) scope(name string) Scope {
	for _, s := range sr.registry {
		if s.Name == name {
			return s
		}
	}
	return Scope{Name: name, Description: name}
}

func (sr *scopeRules) optional(name string) bool {
	return name != policy.ScopeOpenID && sr.scope(name).Optional
}

// toAsk returns the scopes of ar the person must still decide on: all of them
// with prompt=consent, otherwise those the remembered grant neither granted nor
// declined. First-party clients never ask.
func (sr *scopeRules) toAsk(ar *storage.AuthRequest, c *storage.Client, g *storage.Grant) []string {
	if c.FirstParty {
		return nil
	}
	if slices.Contains(ar.Prompt, "consent") || g == nil {
		return slices.Clone(ar.Scopes)
	}
	var ask []string
	for _, s := range ar.Scopes {
		if !slices.Contains(g.Scopes, s) && !slices.Contains(g.Declined, s) {
			ask = append(ask, s)
		}
	}
	return ask
}

// granted is what ar gets from a grant: the requested scopes the grant holds,
// plus the required ones (which cannot be declined).
func (sr *scopeRules) granted(ar *storage.AuthRequest, c *storage.Client, g *storage.Grant) []string {
	var out []string
	for _, s := range ar.Scopes {
		if c.FirstParty || !sr.optional(s) || (g != nil && slices.Contains(g.Scopes, s)) {
			out = append(out, s)
		}
	}
	return out
}

type consentScope struct {
	Name        string
	Description string
	Required    bool
	// API names the API that owns the scope ("Calendar API, calendar.example.com");
	// APIFirst marks the first of its scopes, where the page heads the group.
	API      string
	APIFirst bool
}

// approvalLists is what an approval page lists of the requested scopes: those
// in ask, grouped by API, and those held (by the grant) already.
func (sr *scopeRules) approvalLists(ctx context.Context, requested, ask, held []string) (asked, already []consentScope) {
	owner := sr.owners(ctx)
	for _, s := range requested {
		cs := consentScope{Name: s, Description: sr.scope(s).Description, Required: !sr.optional(s), API: owner[s]}
		if slices.Contains(ask, s) {
			asked = append(asked, cs)
		} else if slices.Contains(held, s) {
			already = append(already, cs)
		}
	}
	groupByAPI(asked)
	return asked, already
}

// groupByAPI orders scopes for the approval pages: those about the person
// first, then each API's under its name (APIFirst marks where a group starts).
func groupByAPI(scopes []consentScope) {
	slices.SortStableFunc(scopes, func(a, b consentScope) int { return strings.Compare(a.API, b.API) })
	for i := range scopes {
		scopes[i].APIFirst = scopes[i].API != "" && (i == 0 || scopes[i-1].API != scopes[i].API)
	}
}

// owners maps each scope that belongs to an API to the API's name and host, as
// the approval pages head its group.
func (sr *scopeRules) owners(ctx context.Context) map[string]string {
	apis, err := sr.apis.ListAPIs(ctx)
	if err != nil {
		sr.log.WarnContext(ctx, "list apis for the consent page", "error", err)
		return nil
	}
	out := map[string]string{}
	for _, a := range apis {
		label := a.Name
		if u, err := url.Parse(a.Audience); err == nil && u.Host != "" {
			label += ", " + u.Host
		} else {
			label += ", " + a.Audience
		}
		for _, s := range a.Scopes {
			out[s] = label
		}
	}
	return out
}

// chosen splits ask by an Allow with ticked: the required scopes and the
// ticked optional ones are granted, the rest declined.
func (sr *scopeRules) chosen(ask, ticked []string) (granted, declined []string) {
	for _, s := range ask {
		if !sr.optional(s) || slices.Contains(ticked, s) {
			granted = append(granted, s)
		} else {
			declined = append(declined, s)
		}
	}
	return granted, declined
}

// recordGrant merges an Allow of the scopes in ask (with ticked) into the
// person's grant to the client as stored at the moment of writing, so that an
// approval in another tab meanwhile is kept: what the grant held beyond ask
// stays, ask is decided anew.
func (sr *scopeRules) recordGrant(ctx context.Context, grants storage.Grants, userID, clientID string, ask, ticked []string, now time.Time) (*storage.Grant, error) {
	granted, declined := sr.chosen(ask, ticked)
	return grants.UpdateGrant(ctx, userID, clientID, func(cur *storage.Grant) (*storage.Grant, error) {
		next := &storage.Grant{UserID: userID, ClientID: clientID, CreatedAt: now, UpdatedAt: now}
		if cur != nil {
			next.CreatedAt = cur.CreatedAt
			for _, s := range cur.Scopes {
				if !slices.Contains(ask, s) {
					next.Scopes = append(next.Scopes, s)
				}
			}
			for _, s := range cur.Declined {
				if !slices.Contains(ask, s) {
					next.Declined = append(next.Declined, s)
				}
			}
		}
		next.Scopes = append(next.Scopes, granted...)
		next.Declined = append(next.Declined, declined...)
		return next, nil
	})
}
