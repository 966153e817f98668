package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const examplePath = "../../config.example.yaml"

// writeConfig writes body to a file in a fresh directory and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signet.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(examplePath)
	if err != nil {
		t.Fatalf("LoadConfig(%s): %v", examplePath, err)
	}
	want := DefaultConfig()
	want.Scopes = []ScopeConfig{{Name: "calendar.read", Description: "See your calendar availability", Optional: true}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("example config differs from DefaultConfig plus the example scope:\n got %+v\nwant %+v", cfg, want)
	}
}

// TestExampleConfigDocumentsEveryField checks that config.example.yaml writes
// out every key of Config and gives each a comment.
func TestExampleConfigDocumentsEveryField(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		node    *yaml.Node
		comment string
	}
	found := map[string]entry{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path)
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				found[p] = entry{v, k.HeadComment + k.LineComment}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		}
	}
	walk(&doc, "")

	var want func(t reflect.Type, path string)
	want = func(typ reflect.Type, path string) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			key := strings.Split(f.Tag.Get("yaml"), ",")[0]
			p := strings.TrimPrefix(path+"."+key, ".")
			e, ok := found[p]
			if !ok {
				t.Errorf("config.example.yaml lacks %s", p)
				continue
			}
			if e.comment == "" && !strings.Contains(path, "[]") {
				t.Errorf("config.example.yaml: %s has no comment", p)
			}
			switch {
			case f.Type.Kind() == reflect.Struct:
				want(f.Type, p)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				want(f.Type.Elem(), p+"[]")
			}
		}
	}
	want(reflect.TypeOf(Config{}), "")
}

func TestDefaultConfigIsValid(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate(): %v", err)
	}
	if DefaultConfig() == DefaultConfig() {
		t.Error("DefaultConfig returns a shared value")
	}
}

func TestLoadConfigAppliesDefaults(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "issuer: https://id.example.com/\nlifetimes:\n  access_token: 5m\n")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Issuer = "https://id.example.com" // trailing slash stripped
	want.Lifetimes.AccessToken = Duration(5 * time.Minute)
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	in := DefaultConfig()
	in.Issuer = "https://id.example.com/signet"
	in.Lifetimes.RefreshReuseGrace = Duration(30 * time.Second)
	in.Scopes = []ScopeConfig{{Name: "a", Description: "A"}}
	out, err := yaml.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "access_token: 10m\n") {
		t.Errorf("marshalled durations are not compact:\n%s", out)
	}
	got, err := LoadConfig(writeConfig(t, string(out)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip: got %+v\nwant %+v", got, in)
	}
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{90 * time.Second, "1m30s"},
		{10 * time.Minute, "10m"},
		{720 * time.Hour, "720h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{500 * time.Millisecond, "500ms"},
	} {
		if got := Duration(tc.d).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// TestLoadConfigErrors checks that each bad file fails with messages that
// carry the file name and every wanted fragment.
func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		body string
		want []string // each must appear in the error
	}{
		{
			name: "unknown top-level key",
			body: "issuer: https://id.example.com\nlisten_addr: :443\n",
			want: []string{"line 2: listen_addr: unknown key"},
		},
		{
			name: "unknown nested key",
			body: "issuer: https://id.example.com\nlifetimes:\n  access_token: 5m\n  acess_token: 5m\n",
			want: []string{"line 4: lifetimes.acess_token: unknown key"},
		},
		{
			name: "unknown key in a scope",
			body: "scopes:\n  - name: a\n    descripton: A\n",
			want: []string{"line 3: scopes[0].descripton: unknown key", "scopes[0].description: required"},
		},
		{
			name: "bad duration",
			body: "lifetimes:\n  id_token: 1d\n",
			want: []string{`line 2: lifetimes.id_token: invalid duration "1d"`},
		},
		{
			name: "duration without unit",
			body: "keys:\n  rotation_period: 30\n",
			want: []string{`line 2: keys.rotation_period: invalid duration "30"`},
		},
		{
			name: "duration as a list",
			body: "keys:\n  rotation_period: [1h]\n",
			want: []string{`line 2: keys.rotation_period: want a duration such as "90s", "10m" or "720h", got a list`},
		},
		{
			name: "number out of range",
			body: "passwords:\n  argon2_parallelism: 300\n",
			want: []string{"line 2: passwords.argon2_parallelism: want a whole number from 0 to 255, got number \"300\""},
		},
		{
			name: "decode and validation problems together",
			body: "issuer: http://id.example.com\nbogus: 1\nlifetimes:\n  session: forever\n",
			want: []string{
				`line 1: issuer: "http://id.example.com" must use https`,
				"line 2: bogus: unknown key",
				`line 4: lifetimes.session: invalid duration "forever"`,
			},
		},
		{
			name: "inline mapping names the inner key",
			body: "lifetimes: {access_token: 5m, id_token: 1d}\npasswords: {argon2_parallelism: -1}\n",
			want: []string{
				`line 1: lifetimes.id_token: invalid duration "1d"`,
				`line 2: passwords.argon2_parallelism: want a whole number from 0 to 255, got number "-1"`,
			},
		},
		{
			name: "problems on one line in column order",
			body: "lifetimes: {session: x, access_token: y}\n",
			want: []string{
				`line 1: lifetimes.session: invalid duration "x"`,
				`line 1: lifetimes.access_token: invalid duration "y"`,
			},
		},
		{
			name: "mapping where a value belongs",
			body: "issuer: {url: https://id.example.com}\nscopes: {name: x}\nlifetimes: 5m\n",
			want: []string{
				"line 1: issuer: want a string, got a mapping",
				"line 2: scopes: want a list, got a mapping",
				`line 3: lifetimes: want a mapping of keys to values, got string "5m"`,
			},
		},
		{
			name: "the whole file a scalar",
			body: "https://id.example.com\n",
			want: []string{`line 1: want a mapping of keys to values, got string "https://id.example.com"`},
		},
		{
			name: "wrong type in a list",
			body: "trusted_proxies: [10.0.0.1, [10.0.0.2]]\nscopes:\n  - name: a\n    description: A\n    optional: maybe\n",
			want: []string{
				"line 1: trusted_proxies[1]: want a string, got a list",
				`line 5: scopes[0].optional: want true or false, got string "maybe"`,
			},
		},
		{
			name: "a long value is shortened",
			body: "passwords:\n  max_concurrent: " + strings.Repeat("x", 60) + "\n",
			want: []string{`passwords.max_concurrent: want a whole number, got string "` + strings.Repeat("x", 37) + `..."`},
		},
		{
			name: "key set twice",
			body: "lifetimes:\n  session: 1h\n  session: 2h\n  sesion: 3h\n",
			want: []string{
				"line 3: lifetimes.session: already defined at line 2",
				"line 4: lifetimes.sesion: unknown key",
			},
		},
		{
			name: "unknown key through an alias and a merge",
			body: "lifetimes: &l {access_token: 5m}\nkeys: *l\nthrottle:\n  <<: {bogus: 1}\n",
			want: []string{
				"line 1: keys.access_token: unknown key",
				"line 4: throttle.bogus: unknown key",
			},
		},
		{
			name: "merge of a scalar",
			body: "lifetimes:\n  <<: 5\n",
			want: []string{`line 2: lifetimes.<<: a merge takes a mapping or a list of mappings, got number "5"`},
		},
		{
			name: "null and list keys",
			body: "~: 1\n? [a]\n: 2\n",
			want: []string{"line 1: ~: unknown key", "line 2: a key must be a name, not a list"},
		},
		{
			name: "bad mfa policy",
			body: "mfa:\n  policy: Required\n",
			want: []string{`line 2: mfa.policy: "Required" is not optional or required`},
		},
		{
			name: "unknown key in mfa",
			body: "mfa:\n  polcy: required\n",
			want: []string{"line 2: mfa.polcy: unknown key"},
		},
		{
			name: "syntax error",
			body: "issuer: [\n",
			want: []string{"line"},
		},
		{
			name: "empty file",
			body: "# nothing\n",
			want: []string{"no configuration"},
		},
		{
			name: "two documents",
			body: "log_level: info\n---\nlog_level: debug\n",
			want: []string{"second YAML document"},
		},
		{
			name: "many problems",
			body: `issuer: https://id.example.com?x=1
listen: localhost
log_level: loud
scopes:
  - name: openid
    description: Built in
  - name: has space
    description: x
  - name: calendar.read
    description: ""
  - name: calendar.read
    description: dup
lifetimes:
  access_token: -1m
  refresh_token_idle: 2000h
  refresh_token_absolute: 1000h
  refresh_reuse_grace: 2m
  authorization_code: 11m
keys:
  rotation_period: 20m
  jwks_cache_lifetime: 1h
  prepublish_lead: 30m
  retention_margin: -1s
  access_token_alg: HS256
passwords:
  argon2_memory_kib: 1024
  max_concurrent: -1
`,
			want: []string{
				"line 1: issuer: \"https://id.example.com?x=1\" must not have a query",
				"line 2: listen: \"localhost\" is not host:port",
				"line 3: log_level: \"loud\" is not one of debug, info, warn, error",
				"line 5: scopes[0].name: \"openid\" is built in",
				"line 7: scopes[1].name: \"has space\" contains whitespace",
				"line 10: scopes[2].description: required",
				"line 11: scopes[3].name: \"calendar.read\" is also scopes[2]",
				"line 14: lifetimes.access_token: must be positive",
				"line 15: lifetimes.refresh_token_idle: 2000h is longer than lifetimes.refresh_token_absolute (1000h)",
				"line 17: lifetimes.refresh_reuse_grace: 2m is outside 0s to 60s",
				"line 18: lifetimes.authorization_code: 11m is longer than 10m",
				"line 22: keys.prepublish_lead: 30m is shorter than keys.jwks_cache_lifetime (1h)",
				"line 20: keys.rotation_period: 20m must be longer than keys.prepublish_lead (30m)",
				"line 23: keys.retention_margin: must not be negative",
				"line 24: keys.access_token_alg: \"HS256\" is not RS256 or ES256",
				"line 26: passwords.argon2_memory_kib: 1024 is below the minimum of 8192 (8 MiB)",
				"line 27: passwords.max_concurrent: must not be negative",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.body)
			cfg, err := LoadConfig(path)
			if err == nil {
				t.Fatalf("LoadConfig succeeded: %+v", cfg)
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, path+": ") {
					t.Errorf("error line %q does not start with the file path", line)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q; got:\n%s", w, msg)
				}
			}
			if n := strings.Count(msg, "\n") + 1; len(tc.want) > 1 && n != len(tc.want) {
				t.Errorf("got %d lines, want %d:\n%s", n, len(tc.want), msg)
			}
		})
	}
}

// TestLoadConfigYAMLForms checks that the walk of the node tree decodes what
// the YAML library would: aliases, merges (the mapping's own keys win), nulls
// and the other spellings of numbers and booleans.
func TestLoadConfigYAMLForms(t *testing.T) {
	t.Parallel()
	_, err := LoadConfig(writeConfig(t, `
lifetimes: &short
  <<: [{access_token: 5m, session: 2h}, {access_token: 7m, id_token: 3h}]
  session: 1h
keys:
  jwks_cache_lifetime: ~
passwords:
  argon2_memory_kib: 0x10000
  max_concurrent: !!int "3"
trusted_proxies: &proxies [10.0.0.1, "192.168.0.0/16"]
scopes:
  - &cal {name: calendar.read, description: Calendar, optional: true, claims: [name]}
  - ~
  - name: calendar.write
    description: *cal_desc_is_not_an_anchor_here
`))
	if err == nil || !strings.Contains(err.Error(), "unknown anchor") {
		t.Fatalf("an alias to no anchor: got %v, want a syntax error", err)
	}
	cfg, err := LoadConfig(writeConfig(t, `
lifetimes:
  <<: [{access_token: 5m, session: 2h}, {access_token: 7m, id_token: 3h}]
  session: 1h
keys:
  jwks_cache_lifetime: ~
passwords:
  argon2_memory_kib: 0x10000
  max_concurrent: !!int "3"
trusted_proxies: [10.0.0.1, "192.168.0.0/16"]
scopes:
  - &cal {name: calendar.read, description: Calendar, optional: true, claims: [name]}
  - ~
  - <<: *cal
    name: calendar.write
`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Lifetimes.AccessToken = Duration(5 * time.Minute) // the first merged mapping wins
	want.Lifetimes.IDToken = Duration(3 * time.Hour)
	want.Lifetimes.Session = Duration(time.Hour) // the mapping's own key beats the merge
	want.Passwords.Argon2MemoryKiB = 0x10000
	want.Passwords.MaxConcurrent = 3
	want.TrustedProxies = []string{"10.0.0.1", "192.168.0.0/16"}
	want.Scopes = []ScopeConfig{ // the null element is left out, as the library does
		{Name: "calendar.read", Description: "Calendar", Optional: true, Claims: []string{"name"}},
		{Name: "calendar.write", Description: "Calendar", Optional: true, Claims: []string{"name"}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// TestLoadConfigAliasExpansion: aliases that multiply a subtree (a list of a
// thousand aliases of a scope whose claims are a thousand aliases) are refused
// with one problem, quickly, not expanded a million times.
func TestLoadConfigAliasExpansion(t *testing.T) {
	t.Parallel()
	body := "c: &n name\nx: &s {name: n, description: d, claims: [*n" + strings.Repeat(", *n", 999) + "]}\n" +
		"scopes: [*s" + strings.Repeat(", *s", 999) + "]\n"
	_, err := LoadConfig(writeConfig(t, body))
	if err == nil || len(splitErrors(err)) != 1 || !strings.Contains(err.Error(), ": scopes[0]") ||
		!strings.Contains(err.Error(), "aliases expand to too much") {
		t.Fatalf("got %v", err)
	}
}

// TestLoadConfigMergeCycles: a merge whose value contains itself (the library
// builds that cycle from an anchor that refers to itself) is one problem, not
// a crash; merges that double at every level stop at the expansion bound, not
// after 2^40 steps.
func TestLoadConfigMergeCycles(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"mapping":  "lifetimes: &m\n  <<: *m\n",
		"sequence": "lifetimes:\n  <<: &s [*s]\n",
	} {
		_, err := LoadConfig(writeConfig(t, body))
		if err == nil || len(splitErrors(err)) != 1 || !strings.Contains(err.Error(), "lifetimes.<<: the merged value contains itself") {
			t.Errorf("%s: got %v", name, err)
		}
	}
	var b strings.Builder
	b.WriteString("a0: &a0 {id_token: 1h}\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "a%d: &a%d {<<: [*a%d, *a%d]}\n", i, i, i-1, i-1)
	}
	b.WriteString("lifetimes:\n  <<: *a40\n")
	done := make(chan error, 1)
	go func() { _, err := LoadConfig(writeConfig(t, b.String())); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "aliases expand to too much") {
			t.Errorf("doubling merges: got %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("doubling merges were expanded rather than refused")
	}
}

func TestLoadConfigMFAPolicy(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, "mfa:\n  policy: required\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MFA.Policy != "required" {
		t.Errorf("mfa.policy = %q, want required", cfg.MFA.Policy)
	}
	cfg, err = LoadConfig(writeConfig(t, "log_level: info\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MFA.Policy != "optional" {
		t.Errorf("default mfa.policy = %q, want optional", cfg.MFA.Policy)
	}
}

func TestLoadConfigFileProblems(t *testing.T) {
	t.Parallel()
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: got %v", err)
	}
	big := writeConfig(t, "log_level: info\n"+strings.Repeat("# padding\n", maxConfigSize/10+1))
	if _, err := LoadConfig(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: got %v", err)
	}
}

func TestIssuerRule(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		issuer string
		ok     bool
	}{
		{"https://id.example.com", true},
		{"https://id.example.com/signet", true},
		{"https://id.example.com:8443/a/b", true},
		{"http://127.0.0.1:5556", true},
		{"http://127.8.9.10", true},
		{"http://localhost:5556", true},
		{"http://[::1]:5556", true},
		{"http://id.example.com", false},
		{"http://10.0.0.1:5556", false},
		{"http://localhost.example.com", false},
		{"ftp://id.example.com", false},
		{"id.example.com", false},
		{"/relative", false},
		{"https://", false},
		{"https://id.example.com?a=b", false},
		{"https://id.example.com/?", false},
		{"https://id.example.com#frag", false},
		{"https://user:pass@id.example.com", false},
		{"https://id.example.com/", false}, // Validate alone; LoadConfig strips it
		{"https://id.example .com", false},
		{"", false},
	} {
		c := DefaultConfig()
		c.Issuer = tc.issuer
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("issuer %q: Validate() = %v, want ok=%v", tc.issuer, err, tc.ok)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "issuer: ") {
			t.Errorf("issuer %q: error %q does not name the key", tc.issuer, err)
		}
	}
}

func TestValidateBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string // "" means valid
	}{
		{"grace 60s", func(c *Config) { c.Lifetimes.RefreshReuseGrace = Duration(time.Minute) }, ""},
		{"grace 61s", func(c *Config) { c.Lifetimes.RefreshReuseGrace = Duration(61 * time.Second) }, "lifetimes.refresh_reuse_grace: "},
		{"grace negative", func(c *Config) { c.Lifetimes.RefreshReuseGrace = Duration(-time.Second) }, "lifetimes.refresh_reuse_grace: "},
		{"code 10m", func(c *Config) { c.Lifetimes.AuthorizationCode = Duration(10 * time.Minute) }, ""},
		{"idle equals absolute", func(c *Config) { c.Lifetimes.RefreshTokenIdle = c.Lifetimes.RefreshTokenAbsolute }, ""},
		{"zero session", func(c *Config) { c.Lifetimes.Session = 0 }, "lifetimes.session: must be positive"},
		{"lead equals cache", func(c *Config) { c.Keys.PrepublishLead = c.Keys.JWKSCacheLifetime }, ""},
		{"zero cache", func(c *Config) { c.Keys.JWKSCacheLifetime = 0 }, "keys.jwks_cache_lifetime: must be positive"},
		{"rotation equals lead", func(c *Config) { c.Keys.RotationPeriod = c.Keys.PrepublishLead }, "keys.rotation_period: "},
		{"ES256", func(c *Config) { c.Keys.AccessTokenAlg = "ES256" }, ""},
		{"memory 8 MiB", func(c *Config) { c.Passwords.Argon2MemoryKiB = 8192 }, ""},
		{"zero iterations", func(c *Config) { c.Passwords.Argon2Iterations = 0 }, "passwords.argon2_iterations: "},
		{"zero parallelism", func(c *Config) { c.Passwords.Argon2Parallelism = 0 }, "passwords.argon2_parallelism: "},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, "data_dir: required"},
		{"listen any interface", func(c *Config) { c.Listen = ":443" }, ""},
		{"listen bad port", func(c *Config) { c.Listen = "127.0.0.1:99999" }, "listen: "},
		{"empty scope name", func(c *Config) { c.Scopes = []ScopeConfig{{Description: "x"}} }, "scopes[0].name: required"},
		{"scope with quote", func(c *Config) { c.Scopes = []ScopeConfig{{Name: `a"b`, Description: "x"}} }, "scopes[0].name: "},
		{"scope offline_access", func(c *Config) { c.Scopes = []ScopeConfig{{Name: "offline_access", Description: "x"}} }, "scopes[0].name: "},
		{"mfa required", func(c *Config) { c.MFA.Policy = "required" }, ""},
		{"mfa optional", func(c *Config) { c.MFA.Policy = "optional" }, ""},
		{"mfa unknown", func(c *Config) { c.MFA.Policy = "always" }, `mfa.policy: "always" is not optional or required`},
		{"mfa empty", func(c *Config) { c.MFA.Policy = "" }, "mfa.policy: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestPrepublishLeadFollowsCacheLifetime: a longer JWKS cache lifetime alone
// is a valid policy; the default lead becomes twice it.
func TestPrepublishLeadFollowsCacheLifetime(t *testing.T) {
	t.Parallel()
	cfg, err := LoadConfig(writeConfig(t, "keys:\n  jwks_cache_lifetime: 3h\n"))
	if err != nil {
		t.Fatalf("a 3h cache lifetime with the default lead: %v", err)
	}
	if got := time.Duration(cfg.Keys.PrepublishLead); got != 6*time.Hour {
		t.Errorf("prepublish_lead = %s, want 6h", got)
	}
	cfg, err = LoadConfig(writeConfig(t, "keys:\n  jwks_cache_lifetime: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(cfg.Keys.PrepublishLead); got != 2*time.Hour {
		t.Errorf("prepublish_lead = %s, want the 2h floor", got)
	}
}
