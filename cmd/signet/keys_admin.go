package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/signet-idp/signet/cmd/signet/internal/admin"
	"github.com/signet-idp/signet/keys"
	"github.com/signet-idp/signet/storage"
)

// EnvNewKeyEncryptionKey carries the new key-encryption key for `signet keys rewrap`.
const EnvNewKeyEncryptionKey = "SIGNET_NEW_KEY_ENCRYPTION_KEY"

// pendingKEKSuffix marks a new key-encryption key written before a rewrap commits.
const pendingKEKSuffix = ".new"

// keyPolicy derives the rotation policy: a retired key stays published for the
// longest lifetime of a token it may have signed, plus the margin.
func keyPolicy(cfg *Config) keys.Policy {
	lt := cfg.Lifetimes
	return keys.Policy{
		RotationPeriod: cfg.Keys.RotationPeriod.D(),
		PrepublishLead: cfg.Keys.PrepublishLead.D(),
		Retention:      max(lt.IDToken.D(), lt.AccessToken.D()) + cfg.Keys.RetentionMargin.D(),
	}
}

// initKeys loads (and on first start generates) the signing keys. If the keys do
// not open with the configured key-encryption key but a rewrap was interrupted
// after its commit, the pending key in data_dir opens them and takes its place.
func initKeys(ctx context.Context, cfg *Config, store storage.Keys, secrets *Secrets, now func() time.Time, log *slog.Logger) (*keys.Manager, error) {
	km, err := keys.NewManager(store, secrets.KeyEncryptionKey, keyPolicy(cfg), now, log)
	if err != nil {
		return nil, err
	}
	err = km.Init(ctx)
	if !errors.Is(err, keys.ErrWrongKEK) {
		return km, err
	}
	path := filepath.Join(cfg.DataDir, KeyEncryptionKeyFile)
	if !kekFromEnvironment() {
		if pending, perr := readKeyFile(path + pendingKEKSuffix); perr == nil {
			if km2, err2 := keys.NewManager(store, pending, keyPolicy(cfg), now, log); err2 == nil && km2.Init(ctx) == nil {
				if err := os.Rename(path+pendingKEKSuffix, path); err != nil {
					return nil, fmt.Errorf("complete an interrupted rewrap: %w", err)
				}
				secrets.KeyEncryptionKey = pending
				return km2, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: set %s, or restore %s, to the key these keys were sealed with",
		err, EnvKeyEncryptionKey, path)
}

// kekFromEnvironment reports whether the key-encryption key comes from
// SIGNET_KEY_ENCRYPTION_KEY or the file SIGNET_KEY_ENCRYPTION_KEY_FILE names
// rather than from data_dir.
func kekFromEnvironment() bool {
	_, file := os.LookupEnv(EnvKeyEncryptionKey + fileEnvSuffix)
	return os.Getenv(EnvKeyEncryptionKey) != "" || file
}

// rewrapper builds the admin service's rewrap: it obtains the new key, persists it
// (when the key lives in data_dir) before the keys are resealed, and completes the
// switch after the commit, so a crash at any point leaves a key that opens them.
func rewrapper(cfg *Config, km *keys.Manager) admin.Rewrapper {
	return func(ctx context.Context, newKEK []byte) (string, error) {
		fromEnv := kekFromEnvironment()
		var kek [32]byte
		switch {
		case fromEnv && (len(newKEK) != 32 || admin.KeyGenerated(ctx)):
			// A key made here (or by the CLI) would live nowhere the next
			// start reads: the operator must choose it and store it.
			return "", &admin.Error{Kind: admin.KindInvalid, Msg: "the key-encryption key comes from " + EnvKeyEncryptionKey +
				" or " + EnvKeyEncryptionKey + fileEnvSuffix + ": pass the new one in " + EnvNewKeyEncryptionKey + " (base64 of 32 bytes)"}
		case len(newKEK) == 32:
			copy(kek[:], newKEK)
		default:
			if _, err := rand.Read(kek[:]); err != nil {
				return "", err
			}
		}
		if fromEnv {
			if err := km.Rewrap(ctx, kek); err != nil {
				return "", err
			}
			return "The signing keys are sealed under the new key-encryption key. Set " + EnvKeyEncryptionKey +
				" (or the file " + EnvKeyEncryptionKey + fileEnvSuffix + " names) to it before the next start.", nil
		}
		path := filepath.Join(cfg.DataDir, KeyEncryptionKeyFile)
		pending := path + pendingKEKSuffix
		os.Remove(pending)
		if _, err := createFileOnce(pending, []byte(base64.StdEncoding.EncodeToString(kek[:])+"\n")); err != nil {
			return "", fmt.Errorf("write the new key-encryption key: %w", err)
		}
		if err := km.Rewrap(ctx, kek); err != nil {
			os.Remove(pending)
			return "", err
		}
		if err := os.Rename(pending, path); err != nil {
			return "", fmt.Errorf("the keys are sealed under the key in %s, but it could not replace %s: %w", pending, path, err)
		}
		syncDir(cfg.DataDir)
		return "The signing keys are sealed under a new key-encryption key, now in " + path + ".", nil
	}
}
