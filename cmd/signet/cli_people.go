package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/web/account"
)

// The commands of issue 17: a person's lifecycle, groups, and clients that
// change in place.

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c *cli) userUpdateCmd() *cobra.Command {
	var email, name, verified string
	cmd := &cobra.Command{
		Use:   "update USERNAME [--email E] [--email-verified=true|false] [--name N]",
		Short: "Change a person's email, its verified flag or name",
		Long: `Change a person's email address, whether it is verified, or their name.

A changed email is unverified (tokens say email_verified: false) unless
--email-verified=true is given with it. Emails are unique among people,
compared without regard to case.`,
		Example: `  signet --config signet.yaml user update alice --email alice@example.com --email-verified=true`,
		Args:    cobra.ExactArgs(1),
	}
	viewOp(c, cmd, admin.UpdateUser, func(args []string) (admin.UpdateUserInput, error) {
		in := admin.UpdateUserInput{Username: args[0]}
		f := cmd.Flags()
		if f.Changed("email") {
			in.Email = &email
		}
		if f.Changed("name") {
			in.Name = &name
		}
		if f.Changed("email-verified") {
			v, err := strconv.ParseBool(verified)
			if err != nil {
				return in, fmt.Errorf("--email-verified must be true or false, not %q", verified)
			}
			in.EmailVerified = &v
		}
		if in.Email == nil && in.Name == nil && in.EmailVerified == nil {
			return in, fmt.Errorf("nothing to change: give --email, --email-verified or --name")
		}
		return in, nil
	}, func(w io.Writer, _ []string, u admin.UserInfo) error {
		_, err := fmt.Fprintf(w, "Updated user %s: email %s (verified: %s), name %s.\n", u.Username, u.Email, yesNo(u.EmailVerified), orDash(u.Name))
		return err
	})
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "new email address (unverified unless --email-verified=true)")
	f.StringVar(&verified, "email-verified", "", "whether the email is verified: true or false")
	f.Lookup("email-verified").NoOptDefVal = "true"
	f.StringVar(&name, "name", "", "new full name")
	return cmd
}

func (c *cli) userEnableCmd() *cobra.Command {
	return runOp(c, &cobra.Command{Use: "enable USERNAME", Short: "Let a disabled person sign in again", Args: cobra.ExactArgs(1)},
		admin.EnableUser, firstArg, say[admin.None]("Enabled user %s.\n"))
}

func (c *cli) userRemoveCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{
		Use:   "remove USERNAME",
		Short: "Remove a person: end every session and token, delete their grants and the person",
		Long: `Remove a person for good. Every session ends (each app that used one gets a
back-channel logout notice), every refresh and access token is revoked, the
apps they approved are forgotten, and the person is deleted. Their subject
identifier (sub) is never given to anyone else.`,
		Args: cobra.ExactArgs(1),
	}, admin.RemoveUser, firstArg, func(w io.Writer, args []string, ended account.Ended) error {
		_, err := fmt.Fprintf(w, "Removed user %s; ended %s and revoked %s.\n", args[0],
			plural(ended.Sessions, "session"), plural(ended.RefreshFamilies, "refresh-token grant"))
		return err
	})
}

func (c *cli) userAddGroupCmd() *cobra.Command {
	return c.userGroupsCmd("add-group", "Add a person to groups", admin.AddUserGroups)
}

func (c *cli) userRemoveGroupCmd() *cobra.Command {
	return c.userGroupsCmd("remove-group", "Take a person out of groups", admin.RemoveUserGroups)
}

func (c *cli) userGroupsCmd(name, short string, op *admin.Op[admin.UserGroupsInput, admin.UserInfo]) *cobra.Command {
	return viewOp(c, &cobra.Command{
		Use:   name + " USERNAME GROUP...",
		Short: short + " (tokens carry the change from the next sign-in or refresh)",
		Args:  cobra.MinimumNArgs(2),
	}, op, func(args []string) (admin.UserGroupsInput, error) {
		return admin.UserGroupsInput{Username: args[0], Groups: args[1:]}, nil
	}, func(w io.Writer, _ []string, u admin.UserInfo) error {
		_, err := fmt.Fprintf(w, "User %s is in groups: %s.\n", u.Username, orDash(strings.Join(u.Groups, ", ")))
		return err
	})
}

func (c *cli) groupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Manage groups (released in the groups claim; clients may allow only some)",
	}
	cmd.AddCommand(c.groupAddCmd(), c.groupListCmd(), c.groupShowCmd(), c.groupRemoveCmd())
	return cmd
}

func (c *cli) groupAddCmd() *cobra.Command {
	var in admin.AddGroupInput
	cmd := viewOp(c, &cobra.Command{
		Use:     "add NAME [--description D]",
		Short:   "Define a group",
		Example: `  signet --config signet.yaml group add admins --description "Site administrators"`,
		Args:    cobra.ExactArgs(1),
	}, admin.AddGroup, func(args []string) (admin.AddGroupInput, error) {
		in.Name = args[0]
		return in, nil
	}, func(w io.Writer, _ []string, g admin.GroupInfo) error {
		_, err := fmt.Fprintf(w, "Added group %s.\n", g.Name)
		return err
	})
	cmd.Flags().StringVar(&in.Description, "description", "", "what the group is for")
	return cmd
}

func (c *cli) groupListCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "list", Short: "List every group", Args: cobra.NoArgs},
		admin.ListGroups, noInput, func(w io.Writer, _ []string, groups []admin.GroupInfo) error {
			return printTable(w, "No groups.", "NAME\tDESCRIPTION\tCREATED", groups, func(g admin.GroupInfo) string {
				return g.Name + "\t" + orDash(g.Description) + "\t" + formatTime(g.CreatedAt)
			})
		})
}

func (c *cli) groupShowCmd() *cobra.Command {
	return viewOp(c, &cobra.Command{Use: "show NAME", Short: "Show a group and its members", Args: cobra.ExactArgs(1)},
		admin.ShowGroup, firstArg, func(w io.Writer, _ []string, g admin.GroupInfo) error {
			tw := fieldWriter(w)
			fmt.Fprintf(tw, "name:\t%s\n", g.Name)
			fmt.Fprintf(tw, "description:\t%s\n", orDash(g.Description))
			fmt.Fprintf(tw, "members:\t%s\n", orDash(strings.Join(g.Members, ", ")))
			fmt.Fprintf(tw, "created:\t%s\n", formatTime(g.CreatedAt))
			return tw.Flush()
		})
}

func (c *cli) groupRemoveCmd() *cobra.Command {
	return runOp(c, &cobra.Command{Use: "remove NAME", Short: "Take every member out of a group and delete it", Args: cobra.ExactArgs(1)},
		admin.RemoveGroup, firstArg, say[admin.None]("Removed group %s.\n"))
}

func (c *cli) clientUpdateCmd() *cobra.Command {
	var in admin.UpdateClientInput
	var name, alg, format, bcl string
	var firstParty, requireMFA, public bool
	cmd := &cobra.Command{
		Use:   "update ID [flags]",
		Short: "Change a relying party's settings in place",
		Long: `Change a relying party's settings without removing it (its secret, grants and
tokens stay). Scalar settings take the flag of client add; list settings change
one entry at a time with --add-... and --remove-... flags. The result must pass
the same checks as a new client (for example, at least one redirect URI).

Removing the last --allowed-group opens the client to everyone again.`,
		Example: `  signet --config signet.yaml client update web --name "Web app" --add-redirect-uri https://new.example.com/cb
  signet --config signet.yaml client update web --add-allowed-group admins --require-mfa`,
		Args: cobra.ExactArgs(1),
	}
	viewOp(c, cmd, admin.UpdateClient, func(args []string) (admin.UpdateClientInput, error) {
		f := cmd.Flags()
		if f.Changed("public") {
			return in, fmt.Errorf("a client cannot change between public and confidential: add a new client (client add) and remove this one")
		}
		in.ID = args[0]
		// Only the flags given change anything.
		given := func(flag string, v *string) *string {
			if f.Changed(flag) {
				return v
			}
			return nil
		}
		in.Name, in.IDTokenAlg = given("name", &name), given("id-token-alg", &alg)
		in.AccessTokenFormat, in.BackchannelLogoutURI = given("access-token-format", &format), given("backchannel-logout-uri", &bcl)
		if f.Changed("first-party") {
			in.FirstParty = &firstParty
		}
		if f.Changed("require-mfa") {
			in.RequireMFA = &requireMFA
		}
		if len(in.AddAllowedScopes) > 0 {
			cfg, err := c.loadConfig()
			if err != nil {
				return in, err
			}
			if err := checkScopesKnown(cfg, in.AddAllowedScopes); err != nil {
				return in, err
			}
		}
		return in, nil
	}, func(w io.Writer, _ []string, ci admin.ClientInfo) error {
		fmt.Fprintf(w, "Updated client %s.\n", ci.ID)
		if len(in.RemoveAllowedGroups) > 0 && len(ci.AllowedGroups) == 0 {
			fmt.Fprintln(w, "It has no allowed group left: everyone may sign in to it.")
		}
		return nil
	})
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "name shown to people on the consent page")
	f.StringVar(&alg, "id-token-alg", "", "ID token signing algorithm: RS256 or ES256")
	f.StringVar(&format, "access-token-format", "", "access token format: jwt or opaque")
	f.StringVar(&bcl, "backchannel-logout-uri", "", "URI that receives a logout token when a session ends (empty: none)")
	f.BoolVar(&firstParty, "first-party", false, "first-party client: skips the consent page (--first-party=false to ask again)")
	f.BoolVar(&requireMFA, "require-mfa", false, "every sign-in to this client uses a second factor (--require-mfa=false to stop)")
	f.BoolVar(&public, "public", false, "cannot change: add a new client instead")
	f.StringArrayVar(&in.AddRedirectURIs, "add-redirect-uri", nil, "add a redirect URI (repeatable)")
	f.StringArrayVar(&in.RemoveRedirectURIs, "remove-redirect-uri", nil, "remove a redirect URI (repeatable)")
	f.StringArrayVar(&in.AddPostLogoutRedirectURIs, "add-post-logout-redirect-uri", nil, "add a post-logout redirect URI (repeatable)")
	f.StringArrayVar(&in.RemovePostLogoutRedirectURIs, "remove-post-logout-redirect-uri", nil, "remove a post-logout redirect URI (repeatable)")
	f.StringArrayVar(&in.AddAllowedScopes, "add-allowed-scope", nil, "add an allowed scope (repeatable)")
	f.StringArrayVar(&in.RemoveAllowedScopes, "remove-allowed-scope", nil, "remove an allowed scope (repeatable)")
	f.StringArrayVar(&in.AddAllowedGroups, "add-allowed-group", nil, "allow members of a group (repeatable)")
	f.StringArrayVar(&in.RemoveAllowedGroups, "remove-allowed-group", nil, "stop allowing a group (repeatable)")
	return cmd
}

func (c *cli) clientRotateSecretCmd() *cobra.Command {
	var keepOld time.Duration
	cmd := &cobra.Command{
		Use:   "rotate-secret ID [--keep-old DURATION]",
		Short: "Give a confidential client a new secret, printed once",
		Long: `Give a confidential client a new secret, printed once. Without --keep-old the
old secret stops working at once; with it, both work until DURATION has passed
(at most 720h), so that a deployment can roll to the new secret without downtime.`,
		Example: `  signet --config signet.yaml client rotate-secret web --keep-old 24h --output json`,
		Args:    cobra.ExactArgs(1),
	}
	viewOp(c, cmd, admin.RotateClientSecret, func(args []string) (admin.RotateSecretInput, error) {
		if keepOld < 0 {
			return admin.RotateSecretInput{}, fmt.Errorf("--keep-old must not be negative")
		}
		return admin.RotateSecretInput{ID: args[0], KeepOldSeconds: int64(keepOld / time.Second)}, nil
	}, func(w io.Writer, _ []string, res admin.SecretRotated) error {
		fmt.Fprintf(w, "New secret for client %s.\n", res.ClientID)
		fmt.Fprintf(w, "client_id:     %s\n", res.ClientID)
		fmt.Fprintf(w, "client_secret: %s\n", res.ClientSecret)
		if res.OldSecretEnd.IsZero() {
			fmt.Fprintln(w, "The old secret no longer works.")
		} else {
			fmt.Fprintf(w, "The old secret works until %s.\n", formatTime(res.OldSecretEnd))
		}
		_, err := fmt.Fprintln(w, "Store the client secret now: it will not be shown again.")
		return err
	})
	cmd.Flags().DurationVar(&keepOld, "keep-old", 0, "keep accepting the old secret this long (for example 24h)")
	return cmd
}
