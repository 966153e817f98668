package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/web/admin"
)

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Inspect the signing keys",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys and their states (public information only)",
		Long: `List the signing keys: kid, algorithm, state (next: published, not yet
signing; active: signing; retired: published until the tokens it signed expire)
and dates. Private keys never leave the server.`,
		Args: cobra.NoArgs,
	}
	output := outputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			keys, err := m.ListKeys(cmd.Context())
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if *output == "json" {
				if keys == nil {
					keys = []admin.KeyInfo{}
				}
				return writeJSON(w, keys)
			}
			if len(keys) == 0 {
				fmt.Fprintln(w, "No keys yet: signet serve creates them.")
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tDELETE_AFTER")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Alg, k.State,
					formatTime(k.CreatedAt), formatTime(k.ActivatedAt), formatTime(k.RetiredAt), formatTime(k.DeleteAfter))
			}
			return tw.Flush()
		})
	}
	cmd.AddCommand(list)
	return cmd
}
