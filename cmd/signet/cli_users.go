package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/web/account"
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
	viewOp(c, cmd, admin.AddUser, func(args []string) (admin.AddUserInput, error) {
		if !pwStdin {
			return in, errPasswordStdin
		}
		pw, err := readPassword(cmd.InOrStdin())
		if err != nil {
			return in, err
		}
		in.Username, in.Password = args[0], pw
		return in, nil
	}, func(w io.Writer, _ []string, u admin.UserInfo) error {
		_, err := fmt.Fprintf(w, "Added user %s (id %s).\n", u.Username, u.ID)
		return err
	})
	cmd.Flags().StringVar(&in.Email, "email", "", "email address (required)")
	cmd.Flags().StringVar(&in.Name, "name", "", "full name")
	cmd.Flags().BoolVar(&in.EmailVerified, "email-verified", false, "the email address is known to be the person's (tokens say email_verified: true)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func (c *cli) userListCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "list", Short: "List every person", Args: cobra.NoArgs},
		admin.ListUsers, noInput, func(w io.Writer, _ []string, users []admin.UserInfo) error {
			return printUsers(w, users)
		})
}

func printUsers(w io.Writer, users []admin.UserInfo) error {
	return printTable(w, "No users.", "USERNAME\tEMAIL\tNAME\tSTATUS\tCREATED\tID", users, func(u admin.UserInfo) string {
		return strings.Join([]string{u.Username, u.Email, orDash(u.Name), status(u.Disabled), formatTime(u.CreatedAt), u.ID}, "\t")
	})
}

func (c *cli) userShowCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "show USERNAME", Short: "Show one person", Args: cobra.ExactArgs(1)},
		admin.ShowUser, firstArg, func(w io.Writer, _ []string, u admin.UserInfo) error {
			tw := fieldWriter(w)
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

func (c *cli) userDisableCmd() *cobra.Command {
	return runOp(c, &cobra.Command{
		Use:   "disable USERNAME",
		Short: "Disable a person and end their sessions and refresh tokens",
		Args:  cobra.ExactArgs(1),
	}, admin.DisableUser, firstArg, say[admin.None]("Disabled user %s; their sessions and refresh tokens are revoked.\n"))
}

func (c *cli) userLogoutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logout USERNAME",
		Short: "End every session of a person; each app of those sessions gets a back-channel logout",
		Args:  cobra.ExactArgs(1),
	}
	// Not viewOp: the JSON answer is an object, {"sessions": N}.
	output := outputFlag(cmd)
	return runOp(c, cmd, admin.LogoutUser, func(args []string) (string, error) {
		return args[0], checkOutput(*output)
	}, func(w io.Writer, args []string, n int) error {
		if *output == "json" {
			return writeJSON(w, struct {
				Sessions int `json:"sessions"`
			}{n})
		}
		_, err := fmt.Fprintf(w, "Ended %d session(s) of %s; their apps are notified.\n", n, args[0])
		return err
	})
}

func (c *cli) userUnlockCmd() *cobra.Command {
	return runOp(c, &cobra.Command{
		Use:   "unlock USERNAME",
		Short: "Clear a person's sign-in lockout after repeated wrong passwords or two-step codes (it also clears by itself)",
		Args:  cobra.ExactArgs(1),
	}, admin.UnlockUser, firstArg, func(w io.Writer, args []string, was bool) error {
		format := "%s was not locked.\n"
		if was {
			format = "Unlocked %s.\n"
		}
		_, err := fmt.Fprintf(w, format, args[0])
		return err
	})
}

func (c *cli) userMFACmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "Manage a person's two-step sign-in",
	}
	cmd.AddCommand(runOp(c, &cobra.Command{
		Use:   "reset USERNAME",
		Short: "Remove a person's TOTP and recovery codes (for a lost phone); they enrol again at /account/totp",
		Args:  cobra.ExactArgs(1),
	}, admin.ResetMFA, firstArg, say[admin.None]("Removed two-step sign-in of %s; they can enrol again at /account/totp.\n")))
	return cmd
}

func (c *cli) userGrantsCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{
		Use:   "grants USERNAME",
		Short: "List the apps a person approved, with the scopes and dates",
		Args:  cobra.ExactArgs(1),
	}, admin.ListGrants, firstArg, func(w io.Writer, args []string, gs []admin.GrantInfo) error {
		return printTable(w, args[0]+" has approved no apps.", "CLIENT\tNAME\tSCOPES\tGRANTED\tUPDATED", gs, func(g admin.GrantInfo) string {
			return strings.Join([]string{g.ClientID, g.ClientName, strings.Join(g.Scopes, " "), formatTime(g.CreatedAt), formatTime(g.UpdatedAt)}, "\t")
		})
	})
}

func (c *cli) userRevokeGrantCmd() *cobra.Command {
	return runOp(c, &cobra.Command{
		Use:   "revoke-grant USERNAME CLIENT_ID",
		Short: "Take back a person's approval of an app and revoke every token the app holds for them",
		Args:  cobra.ExactArgs(2),
	}, admin.RevokeGrant, func(args []string) (admin.GrantRef, error) {
		return admin.GrantRef{Username: args[0], ClientID: args[1]}, nil
	}, func(w io.Writer, args []string, _ admin.None) error {
		_, err := fmt.Fprintf(w, "Revoked %s's grant to %s and the app's tokens for them.\n", args[0], args[1])
		return err
	})
}

func (c *cli) userSetPasswordCmd() *cobra.Command {
	var pwStdin bool
	cmd := &cobra.Command{
		Use:     "set-password USERNAME --password-stdin",
		Short:   "Replace a person's password with the first line of standard input",
		Example: `  printf '%s\n' "$PASSWORD" | signet --config signet.yaml user set-password alice --password-stdin`,
		Args:    cobra.ExactArgs(1),
	}
	runOp(c, cmd, admin.SetPassword, func(args []string) (admin.SetPasswordInput, error) {
		if !pwStdin {
			return admin.SetPasswordInput{}, errPasswordStdin
		}
		pw, err := readPassword(cmd.InOrStdin())
		return admin.SetPasswordInput{Username: args[0], Password: pw}, err
	}, func(w io.Writer, args []string, ended account.Ended) error {
		fmt.Fprintf(w, "Set the password of user %s.\n", args[0])
		fmt.Fprintf(w, "Ended %s (each app was sent a back-channel logout notice) and revoked %s;\n",
			plural(ended.Sessions, "session"), plural(ended.RefreshFamilies, "refresh-token grant"))
		_, err := fmt.Fprintln(w, "every access and refresh token issued before now is refused. The person signs in again with the new password.")
		return err
	})
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
