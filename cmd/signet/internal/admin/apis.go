package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/storage"
)

// AddAPIInput describes a new resource server.
type AddAPIInput struct {
	Audience string   `json:"audience"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
}

// APICreated carries the API's introspection secret, shown once.
type APICreated struct {
	Audience            string `json:"audience"`
	IntrospectionSecret string `json:"introspection_secret"`
}

// APIInfo is what management shows of an API: never its secret's hash.
type APIInfo struct {
	Audience  string    `json:"audience"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
}

const maxAPIScopes = 64

// maxAudienceLen bounds an API's audience: as long as a redirect URI may be.
const maxAudienceLen = policy.MaxRedirectURILen

// validateAudience accepts an absolute URI without fragment or user info, as
// RFC 8707 wants of a resource indicator.
func validateAudience(s string) error {
	u, err := url.Parse(s)
	if s == "" || len(s) > maxAudienceLen || err != nil || !u.IsAbs() || u.Fragment != "" || u.User != nil ||
		strings.ContainsAny(s, " \t\r\n\"\\") {
		return invalidf("audience %q must be an absolute URI without fragment or user info (for example https://calendar.example.com)", s)
	}
	return nil
}

// AddAPI registers a resource server. Its scopes must be configured scopes (the
// CLI checks the configuration), none built in, and none another API's.
func (s *Service) AddAPI(ctx context.Context, in AddAPIInput) (APICreated, error) {
	if err := validateAudience(in.Audience); err != nil {
		return APICreated{}, err
	}
	if strings.TrimSpace(in.Name) == "" {
		return APICreated{}, invalidf("API name is required")
	}
	if err := validateText("API name", in.Name); err != nil {
		return APICreated{}, err
	}
	if len(in.Scopes) == 0 || len(in.Scopes) > maxAPIScopes {
		return APICreated{}, invalidf("an API needs 1 to %d scopes (--scope)", maxAPIScopes)
	}
	apis, err := s.store.ListAPIs(ctx)
	if err != nil {
		return APICreated{}, fmt.Errorf("list apis: %w", err)
	}
	for i, sc := range in.Scopes {
		if sc == "" || len(sc) > 128 || strings.ContainsAny(sc, " \t\r\n\"\\") {
			return APICreated{}, invalidf("scope %q is not a scope name", sc)
		}
		if policy.IsBuiltinScope(sc) {
			return APICreated{}, invalidf("scope %q is built in and belongs to no API", sc)
		}
		if slices.Contains(in.Scopes[:i], sc) {
			return APICreated{}, invalidf("scope %q is listed twice", sc)
		}
		for _, a := range apis {
			if slices.Contains(a.Scopes, sc) {
				return APICreated{}, &Error{Kind: KindConflict, Msg: fmt.Sprintf("scope %q already belongs to API %s: a scope belongs to at most one API", sc, a.Audience)}
			}
		}
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails
	secret := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	a := &storage.API{Audience: in.Audience, Name: in.Name, Scopes: slices.Clone(in.Scopes),
		IntrospectionSecretHash: sum[:], CreatedAt: s.now().UTC()}
	if err := s.store.CreateAPI(ctx, a); err != nil {
		return APICreated{}, classify(err, "create api", fmt.Sprintf("API %q", in.Audience))
	}
	return APICreated{Audience: a.Audience, IntrospectionSecret: secret}, nil
}

// ListAPIs returns every API ordered by audience.
func (s *Service) ListAPIs(ctx context.Context) ([]APIInfo, error) {
	apis, err := s.store.ListAPIs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list apis: %w", err)
	}
	out := make([]APIInfo, 0, len(apis))
	for _, a := range apis {
		out = append(out, apiInfo(a))
	}
	return out, nil
}

// ShowAPI returns one API.
func (s *Service) ShowAPI(ctx context.Context, audience string) (APIInfo, error) {
	a, err := s.store.GetAPI(ctx, audience)
	if err != nil {
		return APIInfo{}, classify(err, "get api", fmt.Sprintf("API %q", audience))
	}
	return apiInfo(a), nil
}

// RemoveAPI deletes an API. Tokens already issued for it keep their audience
// until they expire; new requests for its scopes get tokens for the issuer.
func (s *Service) RemoveAPI(ctx context.Context, audience string) error {
	return classify(s.store.DeleteAPI(ctx, audience), "delete api", fmt.Sprintf("API %q", audience))
}

func apiInfo(a *storage.API) APIInfo {
	return APIInfo{Audience: a.Audience, Name: a.Name, Scopes: slices.Clone(a.Scopes), CreatedAt: a.CreatedAt}
}
