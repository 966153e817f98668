package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// unsetEnv removes name for the test and restores it afterwards.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func unsetSecretEnv(t *testing.T) {
	unsetEnv(t, EnvKeyEncryptionKey)
	unsetEnv(t, EnvCookieKey)
}

func keyOf(b byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func TestLoadSecretsGeneratesFilesOnce(t *testing.T) {
	unsetSecretEnv(t)
	dir := filepath.Join(t.TempDir(), "data")

	first, err := LoadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	for _, name := range []string{KeyEncryptionKeyFile, CookieKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %04o, want 0600", name, fi.Mode().Perm())
		}
	}
	if first.KeyEncryptionKey == ([32]byte{}) || first.CookieKey == ([32]byte{}) {
		t.Error("a generated key is all zero")
	}
	if first.KeyEncryptionKey == first.CookieKey {
		t.Error("the two keys are equal")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("data dir holds %d entries, want the 2 key files (temporary files left?)", len(entries))
	}

	second, err := LoadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if *second != *first {
		t.Error("secrets changed between loads")
	}
}

func TestLoadSecretsConcurrentFirstStart(t *testing.T) {
	unsetSecretEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	got := make([]*Secrets, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = LoadSecrets(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("load %d: %v", i, errs[i])
		}
		if *got[i] != *got[0] {
			t.Fatalf("load %d saw different secrets from load 0", i)
		}
	}
}

func TestLoadSecretsFromEnv(t *testing.T) {
	kek, cookie := keyOf(1), keyOf(200) // 200.. gives bytes whose std and URL encodings differ
	for _, tc := range []struct {
		name string
		enc  *base64.Encoding
	}{
		{"std", base64.StdEncoding},
		{"url", base64.URLEncoding},
		{"raw std", base64.RawStdEncoding},
		{"raw url", base64.RawURLEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvKeyEncryptionKey, tc.enc.EncodeToString(kek[:]))
			t.Setenv(EnvCookieKey, " "+tc.enc.EncodeToString(cookie[:])+"\n")
			dir := filepath.Join(t.TempDir(), "data")
			s, err := LoadSecrets(dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyEncryptionKey != kek || s.CookieKey != cookie {
				t.Error("keys differ from the environment")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("data dir touched although the environment holds both keys: %v", err)
			}
		})
	}
}

func TestLoadSecretsEnvOverridesFile(t *testing.T) {
	unsetSecretEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	fromFile, err := LoadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	cookie := keyOf(7)
	t.Setenv(EnvCookieKey, base64.StdEncoding.EncodeToString(cookie[:]))
	s, err := LoadSecrets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.CookieKey != cookie {
		t.Error("cookie key does not come from the environment")
	}
	if s.KeyEncryptionKey != fromFile.KeyEncryptionKey {
		t.Error("key-encryption key does not come from its file")
	}
}

func TestLoadSecretsMalformedEnv(t *testing.T) {
	short := keyOf(3)
	for _, tc := range []struct {
		name, value, want string
	}{
		{"not base64", "this-is-not!base64$secretvalue", "not base64"},
		{"too short", base64.StdEncoding.EncodeToString(short[:16]), "16 bytes"},
		{"too long", base64.StdEncoding.EncodeToString(append(short[:], 9)), "33 bytes"},
		{"empty", "  ", "set but empty"},
	} {
		for _, env := range []string{EnvKeyEncryptionKey, EnvCookieKey} {
			t.Run(tc.name+"/"+env, func(t *testing.T) {
				unsetSecretEnv(t)
				t.Setenv(env, tc.value)
				_, err := LoadSecrets(filepath.Join(t.TempDir(), "data"))
				if err == nil {
					t.Fatal("LoadSecrets succeeded")
				}
				msg := err.Error()
				if !strings.Contains(msg, env) || !strings.Contains(msg, tc.want) {
					t.Errorf("error %q does not name %s and say %q", msg, env, tc.want)
				}
				if v := strings.TrimSpace(tc.value); v != "" && strings.Contains(msg, v) {
					t.Errorf("error %q echoes the value", msg)
				}
			})
		}
	}
}

func TestLoadSecretsBadFiles(t *testing.T) {
	unsetSecretEnv(t)
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"readable by others", base64.StdEncoding.EncodeToString(make([]byte, 32)), 0o644, "chmod 600"},
		{"corrupt", "c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0", 0o600, "restore it from a backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, KeyEncryptionKeyFile)
			if err := os.WriteFile(path, []byte(tc.content), tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSecrets(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("LoadSecrets = %v, want an error naming %s and saying %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), tc.content) {
				t.Errorf("error %q echoes the file", err)
			}
		})
	}
}

func TestEnsureDataDir(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	for _, tc := range []struct {
		name  string
		setup func(path string) error
		want  string // "" means accepted
	}{
		{"missing is created", func(string) error { return nil }, ""},
		{"0700", func(p string) error { return mkdirMode(p, 0o700) }, ""},
		{"0755", func(p string) error { return mkdirMode(p, 0o755) }, "mode 0755"},
		{"0750", func(p string) error { return mkdirMode(p, 0o750) }, "mode 0750"},
		{"0701", func(p string) error { return mkdirMode(p, 0o701) }, "mode 0701"},
		{"a file", func(p string) error { return os.WriteFile(p, nil, 0o600) }, "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.setup(dir); err != nil {
				t.Fatal(err)
			}
			err := EnsureDataDir(dir)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
					t.Errorf("after EnsureDataDir: %v %v", fi, err)
				}
				return
			}
			if err == nil {
				t.Fatal("EnsureDataDir accepted it")
			}
			msg := err.Error()
			if !strings.Contains(msg, dir) || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not name %s and say %q", msg, dir, tc.want)
			}
			if strings.HasPrefix(tc.want, "mode") && !strings.Contains(msg, "chmod 700 "+dir) {
				t.Errorf("error %q does not say how to fix it", msg)
			}
		})
	}
	if err := EnsureDataDir(""); err == nil {
		t.Error("EnsureDataDir(\"\") succeeded")
	}
}

func mkdirMode(path string, mode os.FileMode) error {
	if err := os.Mkdir(path, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode) // past the umask
}

func TestCheckPrivateFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o644, false},
		{0o640, false},
		{0o606, false},
	} {
		path := filepath.Join(dir, tc.mode.String())
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		err := CheckPrivateFile(path)
		if (err == nil) != tc.ok {
			t.Errorf("mode %04o: CheckPrivateFile = %v, want ok=%v", tc.mode, err, tc.ok)
		}
		if err != nil && (!strings.Contains(err.Error(), "chmod 600 "+path) || !strings.Contains(err.Error(), "mode 0")) {
			t.Errorf("mode %04o: error %q lacks the mode or the fix", tc.mode, err)
		}
	}
	if err := CheckPrivateFile(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing file: %v", err)
	}
}
