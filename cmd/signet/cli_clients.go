package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/provider/policy"
)

func (c *cli) clientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Manage relying parties (OAuth clients)",
	}
	cmd.AddCommand(c.clientAddCmd(), c.clientListCmd(), c.clientShowCmd(), c.clientRemoveCmd(),
		c.clientUpdateCmd(), c.clientRotateSecretCmd())
	return cmd
}

func (c *cli) clientAddCmd() *cobra.Command {
	var in admin.AddClientInput
	var jwksFile string
	cmd := &cobra.Command{
		Use:   "add --id ID --name NAME --redirect-uri URI [--redirect-uri URI ...] [--post-logout-redirect-uri URI ...] [--backchannel-logout-uri URI]",
		Short: "Register a relying party; a confidential client's secret is printed once",
		Long: `Register a relying party.

Redirect URIs must be absolute, without fragment or user info, and use https;
http is allowed only for loopback hosts (127.0.0.1, [::1], localhost), and
public native apps may use a private-use scheme in reverse-domain form
(com.example.app:/callback).

A confidential client (the default) gets a secret, printed once: Signet keeps
only its SHA-256 and cannot show it again. A public client (--public) has no
secret and must use PKCE. A client registered with --token-auth private_key_jwt
has no secret either: it signs a short-lived assertion (RS256, ES256 or PS256)
with its own key, whose public part Signet fetches from --jwks-uri (https, or
http to a loopback host) or keeps from --jwks-file (a JWK Set).`,
		Example: `  signet --config signet.yaml client add --id web --name "Web app" \
      --redirect-uri https://app.example.com/callback
  signet --config signet.yaml client add --id cli --name "CLI" --public \
      --redirect-uri http://127.0.0.1/callback --output json
  signet --config signet.yaml client add --id batch --name "Batch" --grant client_credentials \
      --allowed-scope calendar.read --token-auth private_key_jwt --jwks-uri https://batch.example.com/jwks.json`,
		Args: cobra.NoArgs,
	}
	viewOp(c, cmd, admin.AddClient, func([]string) (admin.AddClientInput, error) {
		if jwksFile != "" {
			// The keys travel as text: the server (over the socket) may not
			// read the caller's files.
			data, err := readJWKSFile(jwksFile)
			if err != nil {
				return in, err
			}
			in.JWKS = data
		}
		// The default grant (authorization_code) needs a redirect URI; say so
		// as for any other required flag.
		if len(in.RedirectURIs) == 0 && (len(in.GrantTypes) == 0 || slices.Contains(in.GrantTypes, policy.GrantAuthorizationCode)) {
			return in, errors.New(`required flag(s) "redirect-uri" not set (a client that signs people in needs one; a service account uses --grant client_credentials)`)
		}
		if len(in.AllowedScopes) > 0 {
			cfg, err := c.loadConfig()
			if err != nil {
				return in, err
			}
			if err := checkScopesKnown(cfg, in.AllowedScopes); err != nil {
				return in, err
			}
		}
		return in, nil
	}, func(w io.Writer, _ []string, created admin.ClientCreated) error {
		switch {
		case created.ClientSecret == "" && in.TokenAuthMethod == "private_key_jwt":
			fmt.Fprintf(w, "Added client %s (no secret: it authenticates with private_key_jwt, signed by its own key).\n", created.ClientID)
		case created.ClientSecret == "":
			fmt.Fprintf(w, "Added public client %s (no secret: it must use PKCE).\n", created.ClientID)
		default:
			fmt.Fprintf(w, "Added confidential client %s.\n", created.ClientID)
			fmt.Fprintf(w, "client_id:     %s\n", created.ClientID)
			fmt.Fprintf(w, "client_secret: %s\n", created.ClientSecret)
			fmt.Fprintln(w, "Store the client secret now: it will not be shown again.")
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&in.ID, "id", "", "client id: 1 to 128 letters, digits, '.', '_' or '-' (required)")
	f.StringVar(&in.Name, "name", "", "name shown to people on the consent page (required)")
	// StringArray, not StringSlice: a URI may contain commas.
	f.StringArrayVar(&in.RedirectURIs, "redirect-uri", nil, "redirect URI, repeat for several (at least one)")
	f.StringArrayVar(&in.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "where RP-initiated logout may return (exact match), repeat for several")
	f.StringVar(&in.BackchannelLogoutURI, "backchannel-logout-uri", "", "URI that receives a logout token when a session ends")
	f.StringArrayVar(&in.AllowedScopes, "allowed-scope", nil, "limit the scopes this client may request (beside openid), repeat for several; default: all")
	f.StringArrayVar(&in.GrantTypes, "grant", nil, "a grant the client may use, repeat for several: authorization_code (the default; needs --redirect-uri), client_credentials (a service account: no redirect URI), urn:ietf:params:oauth:grant-type:device_code")
	f.StringArrayVar(&in.AllowedGroups, "allowed-group", nil, "only members of this group may sign in (repeat for several; a member of any one may); default: everyone")
	f.BoolVar(&in.Public, "public", false, "public client (native or browser app): no secret, PKCE required")
	f.BoolVar(&in.FirstParty, "first-party", false, "first-party client: skips the consent page")
	f.BoolVar(&in.RequireMFA, "require-mfa", false, "every sign-in to this client uses a second factor (TOTP)")
	f.StringVar(&in.IDTokenAlg, "id-token-alg", "RS256", "ID token signing algorithm: RS256 or ES256")
	f.StringVar(&in.AccessTokenFormat, "access-token-format", "jwt", "access token format: jwt or opaque")
	f.StringVar(&in.TokenAuthMethod, "token-auth", "", "token endpoint authentication: client_secret_basic (default; client_secret_post works too) or private_key_jwt (needs --jwks-uri or --jwks-file; no secret)")
	f.StringVar(&in.JWKSURI, "jwks-uri", "", "with --token-auth private_key_jwt: URL of the client's public keys (JWK Set); https, or http to a loopback host")
	f.StringVar(&jwksFile, "jwks-file", "", "with --token-auth private_key_jwt: file holding the client's public keys (JWK Set)")
	_ = cmd.MarkFlagRequired("id")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func (c *cli) clientListCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "list", Short: "List every relying party", Args: cobra.NoArgs},
		admin.ListClients, noInput, func(w io.Writer, _ []string, clients []admin.ClientInfo) error {
			return printTable(w, "No clients.", "ID\tNAME\tTYPE\tID_TOKEN_ALG\tACCESS_TOKEN\tREDIRECT_URIS", clients, func(cl admin.ClientInfo) string {
				return strings.Join([]string{cl.ID, cl.Name, clientType(cl), cl.IDTokenAlg, cl.AccessTokenFormat, strings.Join(cl.RedirectURIs, " ")}, "\t")
			})
		})
}

func (c *cli) clientShowCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "show ID", Short: "Show one relying party (never its secret)", Args: cobra.ExactArgs(1)},
		admin.ShowClient, firstArg, func(w io.Writer, _ []string, cl admin.ClientInfo) error {
			tw := fieldWriter(w)
			fmt.Fprintf(tw, "id:\t%s\n", cl.ID)
			fmt.Fprintf(tw, "name:\t%s\n", cl.Name)
			fmt.Fprintf(tw, "type:\t%s\n", clientType(cl))
			fmt.Fprintf(tw, "id_token_alg:\t%s\n", cl.IDTokenAlg)
			fmt.Fprintf(tw, "access_token_format:\t%s\n", cl.AccessTokenFormat)
			fmt.Fprintf(tw, "token_endpoint_auth_method:\t%s\n", cl.TokenAuthMethod)
			if cl.JWKSURI != "" {
				fmt.Fprintf(tw, "jwks_uri:\t%s\n", cl.JWKSURI)
			}
			if len(cl.JWKS) > 0 {
				fmt.Fprintf(tw, "jwks:\t%s\n", cl.JWKS)
			}
			for _, u := range cl.RedirectURIs {
				fmt.Fprintf(tw, "redirect_uri:\t%s\n", u)
			}
			for _, u := range cl.PostLogoutRedirectURIs {
				fmt.Fprintf(tw, "post_logout_redirect_uri:\t%s\n", u)
			}
			if cl.BackchannelLogoutURI != "" {
				fmt.Fprintf(tw, "backchannel_logout_uri:\t%s\n", cl.BackchannelLogoutURI)
			}
			if len(cl.AllowedScopes) > 0 {
				fmt.Fprintf(tw, "allowed_scopes:\t%s\n", strings.Join(cl.AllowedScopes, " "))
			}
			if len(cl.AllowedGroups) > 0 {
				fmt.Fprintf(tw, "allowed_groups:\t%s\n", strings.Join(cl.AllowedGroups, " "))
			}
			fmt.Fprintf(tw, "require_mfa:\t%s\n", yesNo(cl.RequireMFA))
			if !cl.OldSecretExpiresAt.IsZero() {
				fmt.Fprintf(tw, "old_secret_expires:\t%s\n", formatTime(cl.OldSecretExpiresAt))
			}
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(cl.CreatedAt))
			return tw.Flush()
		})
}

func (c *cli) clientRemoveCmd() *cobra.Command {
	return runOp(c, &cobra.Command{Use: "remove ID", Short: "Remove a relying party", Args: cobra.ExactArgs(1)},
		admin.RemoveClient, firstArg, say[admin.None]("Removed client %s.\n"))
}

func clientType(cl admin.ClientInfo) string {
	t := "confidential"
	if cl.Public {
		t = "public"
	}
	if cl.RequireMFA {
		t += ",require-mfa"
	}
	if cl.FirstParty {
		t += ",first-party"
	}
	return t
}

// checkScopesKnown refuses an --allowed-scope that the configuration does not
// define: it would allow nothing, silently.
func checkScopesKnown(cfg *Config, scopes []string) error {
	var names []string
	for _, sc := range scopeRegistry(cfg) {
		names = append(names, sc.Name)
	}
	for _, sc := range scopes {
		if !slices.Contains(names, sc) {
			return fmt.Errorf("--allowed-scope %q is not a scope of this Signet (defined: %s; add it under scopes: in the config)", sc, strings.Join(names, ", "))
		}
	}
	return nil
}

// readJWKSFile reads the JWK Set of --jwks-file, bounded: a public key set is
// a few KiB.
func readJWKSFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--jwks-file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return "", fmt.Errorf("--jwks-file: %w", err)
	}
	if len(data) > 64<<10 {
		return "", fmt.Errorf("--jwks-file %s is larger than 64 KiB; a JWK Set of public keys is far smaller", path)
	}
	return string(data), nil
}
