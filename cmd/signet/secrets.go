package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Environment variables that carry the secrets; each overrides its file.
const (
	EnvKeyEncryptionKey = "SIGNET_KEY_ENCRYPTION_KEY"
	EnvCookieKey        = "SIGNET_COOKIE_KEY"
)

// fileEnvSuffix names, appended to a secret's variable, the variable that
// gives the path of a file holding it instead (SIGNET_COOKIE_KEY_FILE): what
// systemd's LoadCredential= ($CREDENTIALS_DIRECTORY) and container secrets
// provide, so that the key is in no process environment.
const fileEnvSuffix = "_FILE"

// Files in the data directory that hold the secrets when the environment
// does not: base64 text, created on first start with mode 0600.
const (
	KeyEncryptionKeyFile = "key-encryption.key"
	CookieKeyFile        = "cookie.key"
)

// Secrets are the process's own keys. They never appear in the configuration
// file, in logs or in error messages.
type Secrets struct {
	// KeyEncryptionKey encrypts the signing keys at rest. Losing it makes the
	// stored signing keys unreadable: back it up with the database.
	KeyEncryptionKey [32]byte
	// CookieKey is the server secret of the pages' and the protocol's own
	// state, apart from the signing keys: it keys the HMACs that bind each form
	// to its auth request and the hashes of device user codes, and keys derived
	// from it seal pending auth requests, opaque access tokens and TOTP secrets.
	// Session cookies are random ids looked up in storage, not signed with it.
	// Changing it voids every enrolled second factor, opaque access token,
	// pending sign-in and device code, which is why keys rewrap leaves it alone.
	CookieKey [32]byte
}

// LoadSecrets returns each secret from its environment variable
// (SIGNET_KEY_ENCRYPTION_KEY, SIGNET_COOKIE_KEY: standard or URL base64 of
// exactly 32 bytes), or from the file its _FILE variable names, or else from
// its file in dataDir, generating the file with crypto/rand on first start.
// When a file is used, dataDir must pass EnsureDataDir and the file
// CheckPrivateFile.
func LoadSecrets(dataDir string) (*Secrets, error) { return loadSecrets(dataDir, true) }

// LoadSharedSecrets returns each secret from its environment variable or the
// file its _FILE variable names, and fails for one that is in neither: with
// PostgreSQL there is no data directory to keep them in, and replicas must
// agree on them, so none is generated.
func LoadSharedSecrets() (*Secrets, error) { return loadSecrets("", false) }

// loadSecrets is LoadSecrets; without create, a secret that is nowhere is an
// error matching fs.ErrNotExist and nothing is written (management commands
// never make secrets).
func loadSecrets(dataDir string, create bool) (*Secrets, error) {
	s := &Secrets{}
	for _, sec := range []struct {
		env, file string
		dst       *[32]byte
	}{
		{EnvKeyEncryptionKey, KeyEncryptionKeyFile, &s.KeyEncryptionKey},
		{EnvCookieKey, CookieKeyFile, &s.CookieKey},
	} {
		fileVar := sec.env + fileEnvSuffix
		path, fromFile := os.LookupEnv(fileVar)
		if _, ok := os.LookupEnv(sec.env); ok && fromFile {
			return nil, fmt.Errorf("both %s and %s are set; set one", sec.env, fileVar)
		}
		if fromFile {
			k, err := readSecretFile(fileVar, path)
			if err != nil {
				return nil, err
			}
			*sec.dst = k
			continue
		}
		if v, ok := os.LookupEnv(sec.env); ok {
			if strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("%s is set but empty; give it a key (openssl rand -base64 32) or unset it to use %s",
					sec.env, filepath.Join(dataDir, sec.file))
			}
			k, err := decodeKey(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w (generate one with: openssl rand -base64 32)", sec.env, err)
			}
			*sec.dst = k
			continue
		}
		if dataDir == "" {
			// Replicas sharing a PostgreSQL database must share the keys: a
			// key generated here would be this replica's alone.
			return nil, fmt.Errorf("%s (or %s) is not set: with storage.type postgres every replica must be given the same key, "+
				"so Signet never generates one (make it once with: openssl rand -base64 32)", sec.env, fileVar)
		}
		if !create {
			k, err := readKeyFile(filepath.Join(dataDir, sec.file))
			if err != nil {
				return nil, err
			}
			*sec.dst = k
			continue
		}
		if err := EnsureDataDir(dataDir); err != nil {
			return nil, err
		}
		k, err := loadOrCreateKeyFile(filepath.Join(dataDir, sec.file))
		if err != nil {
			return nil, err
		}
		*sec.dst = k
	}
	return s, nil
}

// readSecretFile reads the key in the file a _FILE variable names. Like the
// files in data_dir, it must not be open to other users; its errors name the
// variable and the path, never the content.
func readSecretFile(variable, path string) ([32]byte, error) {
	var k [32]byte
	if strings.TrimSpace(path) == "" {
		return k, fmt.Errorf("%s is set but empty; give it the path of the key file or unset it", variable)
	}
	if err := CheckPrivateFile(path); err != nil {
		return k, fmt.Errorf("%s: %w", variable, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("%s: read the key file: %w", variable, err)
	}
	k, err = decodeKey(string(b))
	if err != nil {
		return k, fmt.Errorf("%s: %s: %w (generate one with: openssl rand -base64 32)", variable, path, err)
	}
	return k, nil
}

// decodeKey decodes base64 (standard or URL alphabet, padded or not) of
// exactly 32 bytes. Its errors never include the value.
func decodeKey(v string) ([32]byte, error) {
	var k [32]byte
	v = strings.TrimSpace(v)
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(v)
		if err != nil {
			continue
		}
		if len(b) != len(k) {
			return k, fmt.Errorf("decodes to %d bytes, want exactly 32", len(b))
		}
		copy(k[:], b)
		return k, nil
	}
	return k, errors.New("not base64 (standard or URL alphabet) of 32 bytes")
}

func loadOrCreateKeyFile(path string) ([32]byte, error) {
	k, err := readKeyFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("generate %s: %w", path, err)
	}
	created, err := createFileOnce(path, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"))
	if err != nil {
		return k, err
	}
	if !created {
		// Another process created it first: use theirs.
		return readKeyFile(path)
	}
	return k, nil
}

// readKeyFile reads a key file; a missing file is an error matching
// fs.ErrNotExist.
func readKeyFile(path string) ([32]byte, error) {
	var k [32]byte
	if err := CheckPrivateFile(path); err != nil {
		return k, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("read secret: %w", err)
	}
	k, err = decodeKey(string(b))
	if err != nil {
		return k, fmt.Errorf("%s: %w; restore it from a backup (a new key cannot read what the old one protected)", path, err)
	}
	return k, nil
}

// createFileOnce writes data to path with mode 0600 atomically: a temporary
// file in the same directory, synced, then linked into place. It reports
// false, and leaves the existing file alone, when path already exists.
func createFileOnce(path string, data []byte) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after Link, or on failure; harmless once renamed
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	// Link, unlike Rename, never replaces a file another process created
	// meanwhile; Rename is the fallback where links are not supported.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		if _, statErr := os.Lstat(path); statErr == nil {
			return false, nil
		}
		if err := os.Rename(tmp, path); err != nil {
			return false, fmt.Errorf("create %s: %w", path, err)
		}
	}
	syncDir(dir)
	return true, nil
}

// syncDir makes a new directory entry durable where the platform allows;
// failure only weakens durability, so it is not reported.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// EnsureDataDir creates dir with mode 0700 if it is missing, and refuses an
// existing directory that its group or other users can reach.
func EnsureDataDir(dir string) error {
	if dir == "" {
		return errors.New("data directory: not set (data_dir in the configuration)")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data directory %s is not a directory", dir)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("data directory %s has mode %04o, open to other users, and holds secrets; run: chmod 700 %s",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CheckPrivateFile refuses an existing file (a secret, the database, the admin
// socket) that its group or other users can access. A missing file is fine.
func CheckPrivateFile(path string) error {
	if runtime.GOOS == "windows" {
		return nil // permission bits mean nothing there
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o, open to other users; run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	return nil
}
