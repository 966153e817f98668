package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

func (c *cli) apiCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Manage APIs (resource servers): the audiences of access tokens",
		Long: `An API is a resource server that receives access tokens. An access token that
carries an API's scopes (or names it with resource=) has the API's audience in
"aud", so the API can tell a token meant for it from one meant for another.
Each scope belongs to at most one API. An API may introspect the tokens meant
for it with HTTP Basic (its audience and the introspection secret).`,
	}
	cmd.AddCommand(c.apiAddCmd(), c.apiListCmd(), c.apiShowCmd(), c.apiRemoveCmd())
	return cmd
}

func (c *cli) apiAddCmd() *cobra.Command {
	var in admin.AddAPIInput
	cmd := &cobra.Command{
		Use:     "add --audience URI --name NAME --scope S [--scope S ...]",
		Short:   "Register an API; its introspection secret is printed once",
		Example: `  signet --config signet.yaml api add --audience https://calendar.example.com --name "Calendar API" --scope calendar.read`,
		Args:    cobra.NoArgs,
	}
	viewOp(c, cmd, admin.AddAPI, func([]string) (admin.AddAPIInput, error) {
		cfg, err := c.loadConfig()
		if err != nil {
			return in, err
		}
		if err := checkScopesKnown(cfg, in.Scopes); err != nil {
			return in, errors.New(strings.Replace(err.Error(), "--allowed-scope", "--scope", 1))
		}
		return in, nil
	}, func(w io.Writer, _ []string, res admin.APICreated) error {
		fmt.Fprintf(w, "Added API %s.\n", res.Audience)
		fmt.Fprintf(w, "introspection_secret: %s\n", res.IntrospectionSecret)
		_, err := fmt.Fprintln(w, "Store the introspection secret now: it will not be shown again.")
		return err
	})
	f := cmd.Flags()
	f.StringVar(&in.Audience, "audience", "", "the API's identifier, an absolute URI (required)")
	f.StringVar(&in.Name, "name", "", "name shown on the consent page (required)")
	f.StringArrayVar(&in.Scopes, "scope", nil, "a configured scope that belongs to this API, repeat for several (at least one)")
	_ = cmd.MarkFlagRequired("audience")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("scope")
	return cmd
}

func (c *cli) apiListCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "list", Short: "List every API", Args: cobra.NoArgs},
		admin.ListAPIs, noInput, func(w io.Writer, _ []string, apis []admin.APIInfo) error {
			return printTable(w, "No APIs.", "AUDIENCE\tNAME\tSCOPES", apis, func(a admin.APIInfo) string {
				return a.Audience + "\t" + a.Name + "\t" + strings.Join(a.Scopes, " ")
			})
		})
}

func (c *cli) apiShowCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "show AUDIENCE", Short: "Show one API (never its secret)", Args: cobra.ExactArgs(1)},
		admin.ShowAPI, firstArg, func(w io.Writer, _ []string, a admin.APIInfo) error {
			tw := fieldWriter(w)
			fmt.Fprintf(tw, "audience:\t%s\n", a.Audience)
			fmt.Fprintf(tw, "name:\t%s\n", a.Name)
			fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(a.Scopes, " "))
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(a.CreatedAt))
			return tw.Flush()
		})
}

func (c *cli) apiRemoveCmd() *cobra.Command {
	return runOp(c, &cobra.Command{Use: "remove AUDIENCE", Short: "Remove an API", Args: cobra.ExactArgs(1)},
		admin.RemoveAPI, firstArg, say[admin.None]("Removed API %s.\n"))
}
