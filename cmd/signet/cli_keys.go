package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
)

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Inspect and rotate the signing keys",
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the signing keys and their states (public information only)",
		Long: `List the signing keys: kid, algorithm, state (next: published, not yet
signing; active: signing; retired: published until the tokens it signed expire)
and dates. Private keys never leave the server.`,
		Args: cobra.NoArgs,
	}
	viewOp(c, list, admin.ListKeys, noInput, func(w io.Writer, _ []string, keys []admin.KeyInfo) error {
		return printKeys(w, keys)
	})

	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make the published next key sign now; the active key retires and a new next key is published",
		Long: `Rotate the signing keys now. The next key, already published in the JWKS,
starts signing; the active key retires (it stays published until every token it
signed has expired); a new next key is published. Works while signet serve runs.`,
		Args: cobra.NoArgs,
	}
	alg := rotate.Flags().String("alg", "", "rotate only this algorithm: RS256 or ES256 (default: both)")
	rotateOut := outputFlag(rotate)
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkOutput(*rotateOut); err != nil {
			return err
		}
		if *alg != "" && *alg != "RS256" && *alg != "ES256" {
			return fmt.Errorf("--alg must be RS256 or ES256, not %q", *alg)
		}
		cfg, err := c.loadConfig()
		if err != nil {
			return err
		}
		return c.manage(func(m admin.Manager) error {
			before, err := admin.ListKeys.Call(cmd.Context(), m, admin.None{})
			if err != nil {
				return err
			}
			keys, err := admin.RotateKeys.Call(cmd.Context(), m, *alg)
			if err != nil {
				return err
			}
			warnYoungActive(cmd.ErrOrStderr(), before, keys, time.Duration(cfg.Keys.JWKSCacheLifetime))
			if *rotateOut == "json" {
				return writeJSON(cmd.OutOrStdout(), keys)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Rotated. The keys are now:")
			return printKeys(cmd.OutOrStdout(), keys)
		})
	}

	retire := &cobra.Command{
		Use:   "retire KID",
		Short: "Remove a compromised key from the JWKS at once (tokens it signed stop verifying)",
		Args:  cobra.ExactArgs(1),
	}
	// Keys made by Signet never have a kid beginning with '-', but a store
	// may hold older ones; say how to pass such a kid instead of only
	// "unknown shorthand flag".
	retire.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w (a key id that begins with '-' goes after '--': signet keys retire -- KID)", err)
	})
	viewOp(c, retire, admin.RetireKey, func(args []string) (string, error) {
		if strings.TrimSpace(args[0]) == "" {
			return "", errors.New("KID is empty: give the kid of the key to retire (signet keys list shows them)")
		}
		return args[0], nil
	}, func(w io.Writer, args []string, keys []admin.KeyInfo) error {
		fmt.Fprintf(w, "Key %s is removed; tokens it signed no longer verify. The keys are now:\n", args[0])
		return printKeys(w, keys)
	})

	rewrap := &cobra.Command{
		Use:   "rewrap",
		Short: "Seal the private signing keys under a new key-encryption key",
		Long: `Seal every private signing key under a new key-encryption key, in one transaction.

If ` + EnvNewKeyEncryptionKey + ` is set (base64 of 32 bytes), that is the new key;
otherwise one is generated. When the key-encryption key lives in data_dir, the new
one replaces it there. When it comes from ` + EnvKeyEncryptionKey + `, pass the new
key in ` + EnvNewKeyEncryptionKey + ` and set ` + EnvKeyEncryptionKey + ` to it before
the next start. Works while signet serve runs.

It prints the new key's fingerprint (sha256: and the first 16 hex digits of its
SHA-256) and asks for confirmation unless --yes is given.`,
		Args: cobra.NoArgs,
	}
	yes := rewrap.Flags().Bool("yes", false, "do not ask for confirmation")
	rewrap.RunE = func(cmd *cobra.Command, _ []string) error {
		in := admin.RewrapInput{NewKey: os.Getenv(EnvNewKeyEncryptionKey)}
		var kek []byte
		if in.NewKey == "" {
			// Made here so that its fingerprint can be shown before anything
			// changes; the server refuses it where it could not store it.
			kek = make([]byte, 32)
			rand.Read(kek)
			in.NewKey, in.Generated = base64.StdEncoding.EncodeToString(kek), true
		} else {
			k, err := decodeKey(in.NewKey)
			if err != nil {
				return fmt.Errorf("%s: %w", EnvNewKeyEncryptionKey, err)
			}
			kek = k[:]
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "New key-encryption key: %s\n", kekFingerprint(kek))
		if !*yes {
			fmt.Fprint(w, "Every signing key will be sealed under it; the old key will no longer open them.\nType yes to go on: ")
			answer, _ := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 64)).ReadString('\n')
			if strings.TrimSpace(answer) != "yes" {
				return errors.New("rewrap cancelled: nothing changed (--yes skips the question)")
			}
		}
		return c.manage(func(m admin.Manager) error {
			res, err := admin.RewrapKeys.Call(cmd.Context(), m, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), res.Message)
			return nil
		})
	}
	cmd.AddCommand(list, rotate, retire, rewrap)
	return cmd
}

func printKeys(w io.Writer, keys []admin.KeyInfo) error {
	return printTable(w, "No keys yet: signet serve creates them.", "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tDELETE_AFTER", keys, func(k admin.KeyInfo) string {
		return strings.Join([]string{k.ID, k.Alg, k.State, formatTime(k.CreatedAt), formatTime(k.ActivatedAt), formatTime(k.RetiredAt), formatTime(k.DeleteAfter)}, "\t")
	})
}

// warnYoungActive warns when a key the rotation made active was published for
// less than the JWKS cache lifetime (a second rotation soon after the first):
// relying parties that cached the JWKS before it appeared reject its tokens
// until they fetch the JWKS again. The rotation stands; the operator asked.
func warnYoungActive(w io.Writer, before, after []admin.KeyInfo, cacheLifetime time.Duration) {
	wasActive := map[string]bool{}
	for _, k := range before {
		wasActive[k.ID] = k.State == "active"
	}
	for _, k := range after {
		if k.State != "active" || wasActive[k.ID] {
			continue
		}
		if published := k.ActivatedAt.Sub(k.CreatedAt); published < cacheLifetime {
			fmt.Fprintf(w, "warning: %s key %s signs after being published for only %s, less than keys.jwks_cache_lifetime (%s); relying parties that cached the JWKS earlier reject its tokens until they fetch it again\n",
				k.Alg, k.ID, published.Round(time.Second), cacheLifetime)
		}
	}
}
