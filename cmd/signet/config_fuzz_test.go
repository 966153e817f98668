package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzLoadConfig feeds LoadConfig arbitrary files. It must return an error or a
// configuration that validates, never panic; every problem is one line naming the
// file; and a configuration it accepts, written back as YAML, loads to the same
// value.
func FuzzLoadConfig(f *testing.F) {
	if example, err := os.ReadFile(filepath.Join("..", "..", "config.example.yaml")); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"",
		"---\n",
		"issuer: https://id.example.com\n",
		"issuer: https://id.example.com/\nlisten: :443\n",
		"issuer: http://evil.example\n",
		"issuer: https://user:pw@id.example.com\n",
		"issuer: \"https://id.example.com?x=1#f\"\n",
		"listen: 127.0.0.1:99999\n",
		"lifetimes:\n  access_token: 10\n",
		"lifetimes:\n  access_token: -1s\n  refresh_reuse_grace: 2m\n",
		"lifetimes:\n  access_token: [1s]\n",
		"lifetimes:\n  authorization_code: 1h\n",
		"lifetimes: {access_token: 1h30m, id_token: 1e9h}\n",
		"keys:\n  jwks_cache_lifetime: 3h\n  prepublish_lead: 1h\n",
		"keys:\n  access_token_alg: none\n",
		"passwords:\n  argon2_memory_kib: 4294967296\n  argon2_parallelism: 300\n",
		"passwords:\n  argon2_memory_kib: -1\n",
		"scopes:\n  - name: openid\n    description: x\n  - name: a b\n  - name: \"\\u0000\"\n    description: y\n",
		"scopes:\n  - name: x\n    description: d\n  - name: x\n    description: d\n",
		"scopes: {name: x}\n",
		"unknown_key: 1\nlifetimes:\n  bogus: 1s\n",
		"issuer: a\nissuer: b\n",
		"a: &a [*a, *a]\n",
		"issuer: !!binary aGVsbG8=\n",
		"log_level: debug\n---\nlog_level: info\n",
		"\tissuer: x\n",
		"issuer: \"\xff\xfe\"\n",
		"lifetimes:\n  session: " + strings.Repeat("9", 40) + "h\n",
		"data_dir: \"/tmp/x\\ny\"\n",
		"mfa:\n  policy: required\n",
		"mfa:\n  policy: sometimes\n",
		"throttle:\n  account_failures: 0\n  address_failures: -1\n  base_lockout: 1h\n  max_lockout: 1m\n",
		"lifetimes:\n  session: 1h\n  session_idle: 2h\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxConfigSize+1 {
			return
		}
		path := filepath.Join(dir, "signet.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(path)
		if err != nil {
			if cfg != nil {
				t.Fatalf("LoadConfig returned a configuration and an error: %v", err)
			}
			multiline := false
			for _, p := range splitErrors(err) {
				if !strings.HasPrefix(p.Error(), path+": ") {
					t.Fatalf("problem %q does not start with the file name", p)
				}
				multiline = multiline || strings.ContainsAny(p.Error(), "\r\n")
			}
			if multiline {
				t.Fatalf("a problem spans several lines: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("LoadConfig accepted a configuration that does not validate: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal accepted configuration: %v", err)
		}
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := LoadConfig(path)
		if err != nil {
			t.Fatalf("the accepted configuration, written back, does not load: %v\n%s", err, out)
		}
		if len(cfg.Scopes) == 0 {
			cfg.Scopes = nil
		}
		if len(again.Scopes) == 0 {
			again.Scopes = nil
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the configuration:\n%+v\n%+v\n%s", cfg, again, out)
		}
	})
}
