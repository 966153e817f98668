package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

// errPasswordStdin explains why there is no --password flag.
var errPasswordStdin = errors.New("--password-stdin is required: the password is read from the first line of standard input, never from a flag or argument")

func (c *cli) userCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the people who sign in",
	}
	cmd.AddCommand(c.userAddCmd(), c.userListCmd(), c.userShowCmd(), c.userDisableCmd(), c.userSetPasswordCmd(), c.userLogoutCmd(),
		c.userGrantsCmd(), c.userRevokeGrantCmd(), c.userMFACmd(), c.userUnlockCmd(),
		c.userUpdateCmd(), c.userEnableCmd(), c.userRemoveCmd(), c.userAddGroupCmd(), c.userRemoveGroupCmd(),
		c.userImportCmd(), c.userExportCmd())
	return cmd
}

func (c *cli) userAddCmd() *cobra.Command {
	var in admin.AddUserInput
	var pwStdin bool
	cmd := &cobra.Command{
		Use:   "add USERNAME --email EMAIL [--name NAME] --password-stdin",
		Short: "Add a person; the password is the first line of standard input",
		Example: `  printf '%s\n' "$PASSWORD" | signet --config signet.yaml user add alice \
      --email alice@example.com --name "Alice Liddell" --password-stdin`,
		Args: cobra.ExactArgs(1),
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		if !pwStdin {
			return errPasswordStdin
		}
		pw, err := readPassword(cmd.InOrStdin())
		if err != nil {
			return err
		}
		in.Username, in.Password = args[0], pw
		return c.manage(func(m admin.Manager) error {
			u, err := admin.AddUser.Call(cmd.Context(), m, in)
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(cmd.OutOrStdout(), u)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Added user %s (id %s).\n", u.Username, u.ID)
			return nil
		})
	}
	cmd.Flags().StringVar(&in.Email, "email", "", "email address (required)")
	cmd.Flags().StringVar(&in.Name, "name", "", "full name")
	cmd.Flags().BoolVar(&in.EmailVerified, "email-verified", false, "the email address is known to be the person's (tokens say email_verified: true)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (c *cli) userListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List every person",
		Args:  cobra.NoArgs,
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			users, err := admin.ListUsers.Call(cmd.Context(), m, admin.None{})
			if err != nil {
				return err
			}
			if *output == "json" {
				if users == nil {
					users = []admin.UserInfo{}
				}
				return writeJSON(cmd.OutOrStdout(), users)
			}
			return printUsers(cmd.OutOrStdout(), users)
		})
	}
	return cmd
}

func printUsers(w io.Writer, users []admin.UserInfo) error {
	if len(users) == 0 {
		_, err := fmt.Fprintln(w, "No users.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tNAME\tSTATUS\tCREATED\tID")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Email, orDash(u.Name), status(u.Disabled), formatTime(u.CreatedAt), u.ID)
	}
	return tw.Flush()
}

func (c *cli) userShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show USERNAME",
		Short: "Show one person",
		Args:  cobra.ExactArgs(1),
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			u, err := admin.ShowUser.Call(cmd.Context(), m, args[0])
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(cmd.OutOrStdout(), u)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 1, ' ', 0)
			fmt.Fprintf(tw, "username:\t%s\n", u.Username)
			fmt.Fprintf(tw, "id:\t%s\n", u.ID)
			fmt.Fprintf(tw, "email:\t%s\n", u.Email)
			fmt.Fprintf(tw, "email verified:\t%s\n", yesNo(u.EmailVerified))
			fmt.Fprintf(tw, "name:\t%s\n", orDash(u.Name))
			fmt.Fprintf(tw, "groups:\t%s\n", orDash(strings.Join(u.Groups, ", ")))
			fmt.Fprintf(tw, "status:\t%s\n", status(u.Disabled))
			fmt.Fprintf(tw, "two-step:\t%s\n", yesNo(u.TwoStep))
			if !u.LockedUntil.IsZero() {
				fmt.Fprintf(tw, "locked until:\t%s (wrong passwords or codes; signet user unlock %s clears it)\n", formatTime(u.LockedUntil), u.Username)
			}
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(u.CreatedAt))
			fmt.Fprintf(tw, "updated:\t%s\n", formatTime(u.UpdatedAt))
			return tw.Flush()
		})
	}
	return cmd
}

func (c *cli) userDisableCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "disable USERNAME",
		Short: "Disable a person and end their sessions and refresh tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.manage(func(m admin.Manager) error {
				if _, err := admin.DisableUser.Call(cmd.Context(), m, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Disabled user %s; their sessions and refresh tokens are revoked.\n", args[0])
				return nil
			})
		},
	}
}

func (c *cli) userLogoutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout USERNAME",
		Short: "End every session of a person; each app of those sessions gets a back-channel logout",
		Args:  cobra.ExactArgs(1),
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			n, err := admin.LogoutUser.Call(cmd.Context(), m, args[0])
			if err != nil {
				return err
			}
			if *output == "json" {
				return writeJSON(cmd.OutOrStdout(), struct {
					Sessions int `json:"sessions"`
				}{n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Ended %d session(s) of %s; their apps are notified.\n", n, args[0])
			return nil
		})
	}
	return cmd
}

func (c *cli) userUnlockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unlock USERNAME",
		Short: "Clear a person's sign-in lockout after repeated wrong passwords or two-step codes (it also clears by itself)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.manage(func(m admin.Manager) error {
				was, err := admin.UnlockUser.Call(cmd.Context(), m, args[0])
				if err != nil {
					return err
				}
				if was {
					fmt.Fprintf(cmd.OutOrStdout(), "Unlocked %s.\n", args[0])
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "%s was not locked.\n", args[0])
				}
				return nil
			})
		},
	}
}

func (c *cli) userMFACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "Manage a person's two-step sign-in",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "reset USERNAME",
		Short: "Remove a person's TOTP and recovery codes (for a lost phone); they enrol again at /account/totp",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.manage(func(m admin.Manager) error {
				if _, err := admin.ResetMFA.Call(cmd.Context(), m, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Removed two-step sign-in of %s; they can enrol again at /account/totp.\n", args[0])
				return nil
			})
		},
	})
	return cmd
}

func (c *cli) userGrantsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "grants USERNAME",
		Short: "List the apps a person approved, with the scopes and dates",
		Args:  cobra.ExactArgs(1),
	}
	output := outputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(*output); err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			gs, err := admin.ListGrants.Call(cmd.Context(), m, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if *output == "json" {
				if gs == nil {
					gs = []admin.GrantInfo{}
				}
				return writeJSON(w, gs)
			}
			if len(gs) == 0 {
				fmt.Fprintf(w, "%s has approved no apps.\n", args[0])
				return nil
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CLIENT\tNAME\tSCOPES\tGRANTED\tUPDATED")
			for _, g := range gs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.ClientID, g.ClientName, strings.Join(g.Scopes, " "),
					formatTime(g.CreatedAt), formatTime(g.UpdatedAt))
			}
			return tw.Flush()
		})
	}
	return cmd
}

func (c *cli) userRevokeGrantCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-grant USERNAME CLIENT_ID",
		Short: "Take back a person's approval of an app and revoke every token the app holds for them",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.manage(func(m admin.Manager) error {
				if _, err := admin.RevokeGrant.Call(cmd.Context(), m, admin.GrantRef{Username: args[0], ClientID: args[1]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Revoked %s's grant to %s and the app's tokens for them.\n", args[0], args[1])
				return nil
			})
		},
	}
}

func (c *cli) userSetPasswordCmd() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:     "set-password USERNAME --password-stdin",
		Short:   "Replace a person's password with the first line of standard input",
		Example: `  printf '%s\n' "$PASSWORD" | signet --config signet.yaml user set-password alice --password-stdin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !pwStdin {
				return errPasswordStdin
			}
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			return c.manage(func(m admin.Manager) error {
				ended, err := admin.SetPassword.Call(cmd.Context(), m, admin.SetPasswordInput{Username: args[0], Password: pw})
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "Set the password of user %s.\n", args[0])
				fmt.Fprintf(out, "Ended %s (each app was sent a back-channel logout notice) and revoked %s;\n",
					plural(ended.Sessions, "session"), plural(ended.RefreshFamilies, "refresh-token grant"))
				fmt.Fprintln(out, "every access and refresh token issued before now is refused. The person signs in again with the new password.")
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	return cmd
}

func status(disabled bool) string {
	if disabled {
		return "disabled"
	}
	return "active"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plural says "1 session" or "2 sessions".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
