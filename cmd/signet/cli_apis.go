package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

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
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		cfg, err := c.loadConfig()
		if err != nil {
			return err
		}
		if err := checkScopesKnown(cfg, in.Scopes); err != nil {
			return errors.New(strings.Replace(err.Error(), "--allowed-scope", "--scope", 1))
		}
		return c.manage(func(m admin.Manager) error {
			res, err := admin.AddAPI.Call(cmd.Context(), m, in)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if *output == "json" {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "Added API %s.\n", res.Audience)
			fmt.Fprintf(w, "introspection_secret: %s\n", res.IntrospectionSecret)
			fmt.Fprintln(w, "Store the introspection secret now: it will not be shown again.")
			return nil
		})
	}
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
	cmd := &cobra.Command{Use: "list", Short: "List every API", Args: cobra.NoArgs}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			apis, err := admin.ListAPIs.Call(cmd.Context(), m, admin.None{})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if *output == "json" {
				if apis == nil {
					apis = []admin.APIInfo{}
				}
				return writeJSON(w, apis)
			}
			if len(apis) == 0 {
				fmt.Fprintln(w, "No APIs.")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AUDIENCE\tNAME\tSCOPES")
			for _, a := range apis {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Audience, a.Name, strings.Join(a.Scopes, " "))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func (c *cli) apiShowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show AUDIENCE", Short: "Show one API (never its secret)", Args: cobra.ExactArgs(1)}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			a, err := admin.ShowAPI.Call(cmd.Context(), m, args[0])
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(cmd.OutOrStdout(), a)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 1, ' ', 0)
			fmt.Fprintf(tw, "audience:\t%s\n", a.Audience)
			fmt.Fprintf(tw, "name:\t%s\n", a.Name)
			fmt.Fprintf(tw, "scopes:\t%s\n", strings.Join(a.Scopes, " "))
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(a.CreatedAt))
			return tw.Flush()
		})
	}
	return cmd
}

func (c *cli) apiRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove AUDIENCE",
		Short: "Remove an API",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.manage(func(m admin.Manager) error {
				if _, err := admin.RemoveAPI.Call(cmd.Context(), m, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed API %s.\n", args[0])
				return nil
			})
		},
	}
}
