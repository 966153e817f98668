package main

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/signet-idp/signet/provider/policy"
	"github.com/signet-idp/signet/web"
)

// Config is the whole of signet's configuration: one YAML file, this one struct.
// config.example.yaml documents every field; a test loads it.
type Config struct {
	// Issuer is the exact issuer URL; never derived from request headers.
	Issuer string `yaml:"issuer"`
	// Listen is the TCP address of the HTTP server.
	Listen string `yaml:"listen"`
	// DataDir holds signet.db, the admin socket and generated secrets.
	DataDir string `yaml:"data_dir"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text (logfmt-like key=value lines) or json (one object a line).
	LogFormat string `yaml:"log_format"`
	// Metrics is the Prometheus endpoint, on a listener of its own.
	Metrics MetricsConfig `yaml:"metrics"`
	// TrustedProxies are reverse proxies (IP or CIDR) whose X-Forwarded-For names
	// the client address used for throttling; empty trusts none.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// ThemeDir holds templates and static files that replace the embedded ones.
	ThemeDir string `yaml:"theme_dir,omitempty"`
	// Scopes are offered beside openid, profile, email and offline_access.
	Scopes    []ScopeConfig   `yaml:"scopes"`
	Lifetimes LifetimesConfig `yaml:"lifetimes"`
	Keys      KeysConfig      `yaml:"keys"`
	Passwords PasswordsConfig `yaml:"passwords"`
	MFA       MFAConfig       `yaml:"mfa"`
	Throttle  ThrottleConfig  `yaml:"throttle"`
	Storage   StorageConfig   `yaml:"storage"`
}

// Storage backends (storage.type).
const (
	StorageBbolt    = "bbolt"
	StoragePostgres = "postgres"
)

// EnvDatabaseURL overrides storage.dsn: the place for a connection string that
// carries a password, which the file must not.
const EnvDatabaseURL = "SIGNET_DATABASE_URL"

// StorageConfig chooses the backend: bbolt (data_dir/signet.db, one process)
// or PostgreSQL (several replicas sharing one database).
type StorageConfig struct {
	// Type is bbolt (the default) or postgres.
	Type string `yaml:"type"`
	// DSN is the PostgreSQL connection string (a postgres:// URL or key=value
	// pairs), without a password: libpq's PGPASSWORD or PGPASSFILE supply it,
	// and SIGNET_DATABASE_URL replaces the whole string.
	DSN string `yaml:"dsn,omitempty"`
}

// DatabaseURL is the PostgreSQL connection string in force: SIGNET_DATABASE_URL
// when set, else storage.dsn.
func (s StorageConfig) DatabaseURL() string {
	if v := os.Getenv(EnvDatabaseURL); v != "" {
		return v
	}
	return s.DSN
}

// Postgres reports whether the backend is PostgreSQL.
func (s StorageConfig) Postgres() bool { return s.Type == StoragePostgres }

// MetricsConfig places the Prometheus endpoint. It is off unless Listen is
// set, and never shares the public listener: metrics name clients and show
// traffic, so they belong on an address only the monitoring system reaches.
type MetricsConfig struct {
	// Listen is the TCP address serving GET /metrics (e.g. 127.0.0.1:9556).
	Listen string `yaml:"listen"`
}

// MFAConfig is the second-factor (TOTP) policy.
// ThrottleConfig bounds password and code guessing: after the free failures an
// account (or a client address) is locked for base_lockout, doubling with each
// further failure up to max_lockout; the lock clears by itself.
type ThrottleConfig struct {
	AccountFailures int      `yaml:"account_failures"`
	AddressFailures int      `yaml:"address_failures"`
	BaseLockout     Duration `yaml:"base_lockout"`
	MaxLockout      Duration `yaml:"max_lockout"`
}

type MFAConfig struct {
	// Policy is "optional" (a second factor for people who enrolled one, and
	// where a client requires it or acr_values ask for it) or "required"
	// (everyone; people without one enrol at their next sign-in).
	Policy string `yaml:"policy"`
}

// ScopeConfig is one extra scope with the description a person reads.
type ScopeConfig struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Optional scopes may be unticked on the consent page; others are required.
	Optional bool `yaml:"optional"`
	// Claims are the user claims the scope releases in ID tokens and userinfo.
	Claims []string `yaml:"claims,omitempty"`
}

// LifetimesConfig holds every token and session lifetime.
type LifetimesConfig struct {
	AccessToken          Duration `yaml:"access_token"`
	IDToken              Duration `yaml:"id_token"`
	RefreshTokenIdle     Duration `yaml:"refresh_token_idle"`
	RefreshTokenAbsolute Duration `yaml:"refresh_token_absolute"`
	// RefreshReuseGrace lets a rotated refresh token be exchanged once more within
	// this window (a lost response). Zero (the default) disables it.
	RefreshReuseGrace Duration `yaml:"refresh_reuse_grace"`
	AuthRequest       Duration `yaml:"auth_request"`
	AuthorizationCode Duration `yaml:"authorization_code"`
	Session           Duration `yaml:"session"`
	// SessionIdle ends a browser session unused for this long.
	SessionIdle Duration `yaml:"session_idle"`
}

// KeysConfig is the signing-key policy.
type KeysConfig struct {
	// RotationPeriod is how long a key signs before the next one takes over.
	RotationPeriod Duration `yaml:"rotation_period"`
	// JWKSCacheLifetime is the Cache-Control max-age of the JWKS and discovery.
	JWKSCacheLifetime Duration `yaml:"jwks_cache_lifetime"`
	// PrepublishLead is how long the next key is published before it signs; at
	// least twice JWKSCacheLifetime.
	PrepublishLead Duration `yaml:"prepublish_lead"`
	// RetentionMargin is added to the longest token lifetime before a retired key
	// leaves the JWKS.
	RetentionMargin Duration `yaml:"retention_margin"`
	// AccessTokenAlg signs JWT access tokens: RS256 (default) or ES256.
	AccessTokenAlg string `yaml:"access_token_alg"`
}

// PasswordsConfig bounds the cost of password hashing.
type PasswordsConfig struct {
	// Argon2MemoryKiB is argon2id's memory per hash in KiB.
	Argon2MemoryKiB uint32 `yaml:"argon2_memory_kib"`
	// Argon2Iterations is argon2id's time parameter.
	Argon2Iterations uint32 `yaml:"argon2_iterations"`
	// Argon2Parallelism is argon2id's lanes.
	Argon2Parallelism uint8 `yaml:"argon2_parallelism"`
	// MaxConcurrent bounds how many hashes run at once (0: derived from the CPUs).
	MaxConcurrent int `yaml:"max_concurrent"`
}

// Duration is a time.Duration written in YAML as "90s", "10m", "720h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way a person writes it: "10m", "720h", "1h30m", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a Go duration string such as "90s", "10m" or "720h".
// A bad value is a *yaml.TypeError naming the value and its line. LoadConfig
// does not come here: its walk of the document checks durations itself, to
// name the key.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, msg := parseDuration(n)
	if msg != "" {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
	}
	*d = v
	return nil
}

// parseDuration reads a duration from a scalar node, or says what is wrong.
func parseDuration(n *yaml.Node) (Duration, string) {
	if n.Kind != yaml.ScalarNode {
		return 0, fmt.Sprintf("want a duration such as \"90s\", \"10m\" or \"720h\", got %s", gotName(n))
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, fmt.Sprintf("invalid duration %q: want a number and a unit (ns, us, ms, s, m, h) such as \"90s\", \"10m\" or \"720h\"", n.Value)
	}
	return Duration(v), ""
}

// maxConfigSize bounds the configuration file LoadConfig reads.
const maxConfigSize = 1 << 20

// DefaultConfig returns the configuration used when a file leaves a field
// unset, and by `serve --demo` without a file. Each call returns a new value.
func DefaultConfig() *Config {
	return &Config{
		Issuer:    "http://127.0.0.1:5556",
		Listen:    "127.0.0.1:5556",
		DataDir:   "./signet-data",
		LogLevel:  "info",
		LogFormat: "text",
		Lifetimes: LifetimesConfig{
			AccessToken:          Duration(10 * time.Minute),
			IDToken:              Duration(time.Hour),
			RefreshTokenIdle:     Duration(720 * time.Hour),
			RefreshTokenAbsolute: Duration(2160 * time.Hour),
			RefreshReuseGrace:    0,
			AuthRequest:          Duration(10 * time.Minute),
			AuthorizationCode:    Duration(time.Minute),
			Session:              Duration(12 * time.Hour),
			SessionIdle:          Duration(2 * time.Hour),
		},
		Keys: KeysConfig{
			RotationPeriod:    Duration(720 * time.Hour),
			JWKSCacheLifetime: Duration(time.Hour),
			PrepublishLead:    Duration(2 * time.Hour),
			RetentionMargin:   Duration(time.Hour),
			AccessTokenAlg:    "RS256",
		},
		Passwords: PasswordsConfig{
			Argon2MemoryKiB:   64 * 1024,
			Argon2Iterations:  2,
			Argon2Parallelism: 2,
			MaxConcurrent:     0,
		},
		MFA:     MFAConfig{Policy: web.MFAOptional},
		Storage: StorageConfig{Type: StorageBbolt},
		// The pages own the brute-force defaults.
		Throttle: ThrottleConfig{
			AccountFailures: web.DefaultThrottle.AccountFree,
			AddressFailures: web.DefaultThrottle.AddressFree,
			BaseLockout:     Duration(web.DefaultThrottle.Base),
			MaxLockout:      Duration(web.DefaultThrottle.Max),
		},
	}
}

// ApplyDefaults fills every field left zero with its DefaultConfig value
// (refresh_reuse_grace and max_concurrent stay zero: zero is their default)
// and strips trailing slashes from the issuer. LoadConfig calls it; call it
// yourself after changing a Config in code, before Validate.
func (c *Config) ApplyDefaults() {
	if len(c.TrustedProxies) == 0 {
		c.TrustedProxies = nil // "[]" and no key mean the same
	}
	for i := range c.Scopes {
		if len(c.Scopes[i].Claims) == 0 {
			c.Scopes[i].Claims = nil // "claims: []" and no key mean the same
		}
	}
	def := DefaultConfig()
	setString(&c.Issuer, def.Issuer)
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	setString(&c.Listen, def.Listen)
	setString(&c.DataDir, def.DataDir)
	setString(&c.LogLevel, def.LogLevel)
	setString(&c.LogFormat, def.LogFormat)

	l, dl := &c.Lifetimes, def.Lifetimes
	setDuration(&l.AccessToken, dl.AccessToken)
	setDuration(&l.IDToken, dl.IDToken)
	setDuration(&l.RefreshTokenIdle, dl.RefreshTokenIdle)
	setDuration(&l.RefreshTokenAbsolute, dl.RefreshTokenAbsolute)
	setDuration(&l.AuthRequest, dl.AuthRequest)
	setDuration(&l.AuthorizationCode, dl.AuthorizationCode)
	setDuration(&l.Session, dl.Session)
	setDuration(&l.SessionIdle, dl.SessionIdle)

	k, dk := &c.Keys, def.Keys
	setDuration(&k.RotationPeriod, dk.RotationPeriod)
	setDuration(&k.JWKSCacheLifetime, dk.JWKSCacheLifetime)
	// The lead follows the cache lifetime: twice it, whatever it was set to.
	setDuration(&k.PrepublishLead, max(dk.PrepublishLead, 2*k.JWKSCacheLifetime))
	setDuration(&k.RetentionMargin, dk.RetentionMargin)
	setString(&k.AccessTokenAlg, dk.AccessTokenAlg)

	p, dp := &c.Passwords, def.Passwords
	if p.Argon2MemoryKiB == 0 {
		p.Argon2MemoryKiB = dp.Argon2MemoryKiB
	}
	if p.Argon2Iterations == 0 {
		p.Argon2Iterations = dp.Argon2Iterations
	}
	if p.Argon2Parallelism == 0 {
		p.Argon2Parallelism = dp.Argon2Parallelism
	}
	setString(&c.MFA.Policy, def.MFA.Policy)
	t, dt := &c.Throttle, def.Throttle
	if t.AccountFailures == 0 {
		t.AccountFailures = dt.AccountFailures
	}
	if t.AddressFailures == 0 {
		t.AddressFailures = dt.AddressFailures
	}
	setDuration(&t.BaseLockout, dt.BaseLockout)
	setDuration(&t.MaxLockout, dt.MaxLockout)
	setString(&c.Storage.Type, StorageBbolt)
}

func setString(s *string, def string) {
	if *s == "" {
		*s = def
	}
}

func setDuration(d *Duration, def Duration) {
	if *d == 0 {
		*d = def
	}
}

// LoadConfig reads the YAML file at path, applies the defaults and validates
// the result. Unknown keys, malformed values and invalid settings are all
// reported at once, one line each, as "PATH: line N: KEY: problem".
func LoadConfig(path string) (*Config, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err = dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: no configuration in the file (config.example.yaml lists every setting)", path)
	}
	if err != nil {
		// A syntax error: the document could not be read at all.
		return nil, fmt.Errorf("%s: %s", path, oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: %s", path, oneLine(strings.TrimPrefix(err.Error(), "yaml: ")))
		}
		return nil, fmt.Errorf("%s: line %d: a second YAML document; put the whole configuration in one", path, extra.Line)
	}

	cfg := &Config{}
	d := configDecoder{bad: map[string]bool{}, keys: map[string]*yaml.Node{}}
	d.value(&doc, reflect.ValueOf(cfg).Elem(), "")
	if d.stopped {
		// The walk gave up part way: the rest of cfg is not worth judging.
		return nil, d.problems[len(d.problems)-1].in(path)
	}
	problems := d.problems
	cfg.ApplyDefaults()
	for _, p := range cfg.problems() {
		if d.bad[p.Key] {
			continue // the value did not decode: a problem about its default would be noise
		}
		if n := d.keys[p.Key]; n != nil && p.Line == 0 {
			p.Line, p.Column = n.Line, n.Column
		}
		problems = append(problems, p)
	}
	if len(problems) == 0 {
		return cfg, nil
	}
	// In file order; problems without a line (defaults) last.
	slices.SortStableFunc(problems, func(a, b configProblem) int {
		if a.Line == 0 || b.Line == 0 {
			return b.Line - a.Line
		}
		return cmp.Or(a.Line-b.Line, a.Column-b.Column)
	})
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p.in(path)
	}
	return nil, errors.Join(errs...)
}

func readConfigFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; is this the configuration file?", path, maxConfigSize)
	}
	return data, nil
}

// oneLine folds a multi-line message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// A configProblem is one thing wrong with a configuration, at a YAML key path
// such as "lifetimes.access_token" or "scopes[1].name".
type configProblem struct {
	File   string
	Line   int // 0 when unknown, e.g. for a default value
	Column int // orders problems on one line; not shown
	Key    string
	Msg    string
}

func (p configProblem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File + ": ")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

func (p configProblem) in(file string) error {
	p.File = file
	return p
}

// configDecoder decodes a YAML document into a Config by walking the node tree
// beside the struct's type: each key is looked up among the yaml tags and each
// value checked against its field, so a problem carries the key path and the
// position from the tree rather than from the library's English messages.
// Scalars are still converted by the library (Node.Decode), so "0x10", "1e3"
// and the other YAML spellings mean what they always meant. A value that does
// not fit is reported and skipped, and the walk goes on, so that every
// problem in the file is reported at once.
type configDecoder struct {
	problems []configProblem
	bad      map[string]bool       // key paths with a problem of their own
	keys     map[string]*yaml.Node // key path -> where it is written, for validation problems
	// Aliases may repeat a subtree many times over ("billion laughs"): count
	// what they expand to, with the library's own bound.
	visits, aliasVisits, aliasDepth int
	stopped                         bool
	// merging holds the merge values being walked: an anchor may contain a
	// merge of itself (the library builds that cycle), which is refused.
	merging map[*yaml.Node]bool
}

var durationType = reflect.TypeFor[Duration]()

// spend counts one step of the walk and reports whether it may go on: aliases
// and merges that expand to too much stop it, with one problem.
func (d *configDecoder) spend(n *yaml.Node, path string) bool {
	if d.stopped {
		return false
	}
	d.visits++
	if d.aliasDepth > 0 {
		d.aliasVisits++
	}
	if d.aliasVisits > 100 && d.visits > 1000 && float64(d.aliasVisits) > 0.99*float64(d.visits) {
		d.add(n, path, "aliases expand to too much; write the values out")
		d.stopped = true
		return false
	}
	return true
}

func (d *configDecoder) add(n *yaml.Node, key, format string, args ...any) {
	d.problems = append(d.problems, configProblem{Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
	d.bad[key] = true
}

// value decodes n into v, the field at key path path, and reports whether v
// took a value (a slice keeps only the elements that did, as the library's
// decoder does).
func (d *configDecoder) value(n *yaml.Node, v reflect.Value, path string) bool {
	if !d.spend(n, path) {
		return false
	}
	switch n.Kind {
	case yaml.DocumentNode:
		return len(n.Content) == 1 && d.value(n.Content[0], v, path)
	case yaml.AliasNode:
		// Config's type has no cycle, so neither can the walk: each step
		// goes one field deeper.
		d.aliasDepth++
		ok := d.value(n.Alias, v, path)
		d.aliasDepth--
		return ok
	}
	if n.ShortTag() == "!!null" {
		// As the library does: a null list is no list; a null scalar or
		// mapping leaves the field as it is (its default follows), and as an
		// element of a list it is left out.
		if v.Kind() == reflect.Slice {
			v.SetZero()
			return true
		}
		return false
	}
	switch {
	case v.Type() == durationType:
		dur, msg := parseDuration(n)
		if msg != "" {
			d.add(n, path, "%s", msg)
			return false
		}
		v.Set(reflect.ValueOf(dur))
	case v.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.mismatch(n, v.Type(), path)
			return false
		}
		d.mapping(n, v, path, map[string]bool{})
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.mismatch(n, v.Type(), path)
			return false
		}
		s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.keys[p] = c
			e := reflect.New(v.Type().Elem()).Elem()
			if d.value(c, e, p) {
				s = reflect.Append(s, e)
			}
		}
		v.Set(s)
	default:
		// The error is not read: whatever it says, the value does not fit
		// the field, and mismatch says so in terms of the file.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.mismatch(n, v.Type(), path)
			return false
		}
	}
	return true
}

// mapping decodes the keys of n into the struct v. set holds the keys already
// decoded: a merge ("<<: *defaults") fills only the keys the mapping itself
// does not write, as the library's decoder does.
func (d *configDecoder) mapping(n *yaml.Node, v reflect.Value, path string, set map[string]bool) {
	fields := yamlFields(v.Type())
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if dup := firstKey(n, i); dup != nil {
			d.add(k, joinKey(path, k.Value), "already defined at line %d", dup.Line)
			continue
		}
		if isMerge(k) {
			merges = append(merges, val)
			continue
		}
		name, ok := keyName(k)
		if !ok {
			d.add(k, path, "a key must be a name, not %s", gotName(resolveAlias(k)))
			continue
		}
		p := joinKey(path, name)
		if _, seen := d.keys[p]; !seen {
			d.keys[p] = k
		}
		f, known := fields[name]
		if !known {
			d.add(k, p, "unknown key (config.example.yaml lists every key)")
			continue
		}
		if set[name] {
			continue
		}
		set[name] = true
		d.value(val, v.Field(f), p)
	}
	for _, m := range merges {
		d.merge(m, v, path, set)
	}
}

// merge decodes the value of a "<<" key: a mapping or a list of mappings,
// the earlier ones winning.
func (d *configDecoder) merge(m *yaml.Node, v reflect.Value, path string, set map[string]bool) {
	// Merges expand aliases too: they count against the same bound.
	d.aliasDepth++
	defer func() { d.aliasDepth-- }()
	if !d.spend(m, joinKey(path, "<<")) {
		return
	}
	r := resolveAlias(m)
	if d.merging[r] {
		d.add(m, joinKey(path, "<<"), "the merged value contains itself")
		return
	}
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[r] = true
	defer delete(d.merging, r)
	if r.Kind == yaml.SequenceNode {
		for _, e := range r.Content {
			d.merge(e, v, path, set)
		}
		return
	}
	if r.Kind != yaml.MappingNode {
		d.add(m, joinKey(path, "<<"), "a merge takes a mapping or a list of mappings, got %s", gotName(r))
		return
	}
	d.mapping(r, v, path, set)
}

func (d *configDecoder) mismatch(n *yaml.Node, want reflect.Type, path string) {
	d.add(n, path, "want %s, got %s", wantName(want), gotName(resolveAlias(n)))
}

// firstKey returns the key before index i of mapping n that is written the
// same as the key at i (the library refuses such a mapping), or nil.
func firstKey(n *yaml.Node, i int) *yaml.Node {
	k := n.Content[i]
	for j := 0; j < i; j += 2 {
		if o := n.Content[j]; o.Kind == k.Kind && o.Value == k.Value {
			return o
		}
	}
	return nil
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge")
}

// keyName returns the name a key node spells, as the library reads it (so a
// quoted or !!binary key means what it always did).
func keyName(k *yaml.Node) (string, bool) {
	k = resolveAlias(k)
	var s string
	if k.Kind != yaml.ScalarNode || k.Decode(&s) != nil {
		return "", false
	}
	if s == "" {
		s = k.Value // "~" or "null": no field's name, but say what was written
	}
	return s, true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// yamlFields maps a struct's yaml key names to its field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" {
			name = strings.ToLower(t.Field(i).Name)
		}
		m[name] = i
	}
	return m
}

// wantName says in a person's words what a field of type t takes.
func wantName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Uint8:
		return "a whole number from 0 to 255"
	case reflect.Uint32:
		return "a whole number from 0 to 4294967295"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint16, reflect.Uint64:
		return "a whole number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct:
		return "a mapping of keys to values"
	}
	return t.String()
}

// gotName says what a node holds: "a list", "a mapping", or its kind of
// scalar and the value, as in `number "300"`.
func gotName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	tag := n.ShortTag()
	kind := map[string]string{"!!str": "string", "!!int": "number", "!!float": "number",
		"!!bool": "boolean", "!!timestamp": "timestamp", "!!null": "null"}[tag]
	if kind == "" {
		kind = tag
	}
	v := []rune(oneLine(n.Value))
	if len(v) > 40 {
		v = append(v[:37], []rune("...")...)
	}
	return fmt.Sprintf("%s %q", kind, string(v))
}

// Validate reports every problem with c at once, one line each, naming the
// YAML key: "lifetimes.access_token: must be positive". It does not apply
// defaults; LoadConfig does that first.
func (c *Config) Validate() error {
	var errs []error
	for _, p := range c.problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

func (c *Config) problems() []configProblem {
	var ps []configProblem
	add := func(key, format string, args ...any) {
		ps = append(ps, configProblem{Key: key, Msg: fmt.Sprintf(format, args...)})
	}

	if msg := issuerProblem(c.Issuer); msg != "" {
		add("issuer", "%s", msg)
	}
	if msg := listenProblem(c.Listen); msg != "" {
		add("listen", "%s", msg)
	}
	if c.DataDir == "" {
		add("data_dir", "required")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level", "%q is not one of debug, info, warn, error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("log_format", "%q is not text or json", c.LogFormat)
	}
	if c.Metrics.Listen != "" {
		if msg := listenProblem(c.Metrics.Listen); msg != "" {
			add("metrics.listen", "%s", msg)
		} else if sameListener(c.Metrics.Listen, c.Listen) {
			add("metrics.listen", "%q is the public listener; metrics need an address of their own", c.Metrics.Listen)
		}
	}

	seen := map[string]int{}
	for i, s := range c.Scopes {
		key := fmt.Sprintf("scopes[%d]", i)
		switch {
		case s.Name == "":
			add(key+".name", "required")
		case strings.IndexFunc(s.Name, unicode.IsSpace) >= 0:
			add(key+".name", "%q contains whitespace", s.Name)
		case !isScopeToken(s.Name):
			add(key+".name", "%q may hold only printable ASCII other than space, \" and \\", s.Name)
		case policy.IsBuiltinScope(s.Name):
			add(key+".name", "%q is built in (%s always exist)", s.Name, strings.Join(policy.BuiltinScopeNames(), ", "))
		default:
			if j, dup := seen[s.Name]; dup {
				add(key+".name", "%q is also scopes[%d]", s.Name, j)
			} else {
				seen[s.Name] = i
			}
		}
		if strings.TrimSpace(s.Description) == "" {
			add(key+".description", "required: people read it on the consent page")
		}
		for j, cl := range s.Claims {
			if !policy.IsReleasableClaim(cl) {
				add(fmt.Sprintf("%s.claims[%d]", key, j), "%q is not one of %s", cl, strings.Join(policy.ReleasableClaims, ", "))
			}
		}
	}

	l := c.Lifetimes
	for _, f := range []struct {
		key string
		d   Duration
	}{
		{"lifetimes.access_token", l.AccessToken},
		{"lifetimes.id_token", l.IDToken},
		{"lifetimes.refresh_token_idle", l.RefreshTokenIdle},
		{"lifetimes.refresh_token_absolute", l.RefreshTokenAbsolute},
		{"lifetimes.auth_request", l.AuthRequest},
		{"lifetimes.authorization_code", l.AuthorizationCode},
		{"lifetimes.session", l.Session},
		{"lifetimes.session_idle", l.SessionIdle},
	} {
		if f.d <= 0 {
			add(f.key, "must be positive")
		}
	}
	if l.RefreshReuseGrace < 0 || l.RefreshReuseGrace.D() > time.Minute {
		add("lifetimes.refresh_reuse_grace", "%s is outside 0s to 60s", l.RefreshReuseGrace)
	}
	if l.AuthorizationCode.D() > 10*time.Minute {
		add("lifetimes.authorization_code", "%s is longer than 10m", l.AuthorizationCode)
	}
	if l.RefreshTokenIdle > 0 && l.RefreshTokenAbsolute > 0 && l.RefreshTokenIdle > l.RefreshTokenAbsolute {
		add("lifetimes.refresh_token_idle", "%s is longer than lifetimes.refresh_token_absolute (%s)",
			l.RefreshTokenIdle, l.RefreshTokenAbsolute)
	}

	k := c.Keys
	switch k.AccessTokenAlg {
	case "RS256", "ES256":
	default:
		add("keys.access_token_alg", "%q is not RS256 or ES256", k.AccessTokenAlg)
	}
	if k.RotationPeriod <= 0 {
		add("keys.rotation_period", "must be positive")
	}
	if k.JWKSCacheLifetime <= 0 {
		add("keys.jwks_cache_lifetime", "must be positive")
	}
	switch {
	case k.PrepublishLead <= 0:
		add("keys.prepublish_lead", "must be positive")
	case k.JWKSCacheLifetime > 0 && k.PrepublishLead < k.JWKSCacheLifetime:
		add("keys.prepublish_lead", "%s is shorter than keys.jwks_cache_lifetime (%s); use at least twice that",
			k.PrepublishLead, k.JWKSCacheLifetime)
	}
	if k.RotationPeriod > 0 && k.PrepublishLead > 0 && k.RotationPeriod <= k.PrepublishLead {
		add("keys.rotation_period", "%s must be longer than keys.prepublish_lead (%s)", k.RotationPeriod, k.PrepublishLead)
	}
	if k.RetentionMargin < 0 {
		add("keys.retention_margin", "must not be negative")
	}

	p := c.Passwords
	if p.Argon2MemoryKiB < 8192 {
		add("passwords.argon2_memory_kib", "%d is below the minimum of 8192 (8 MiB)", p.Argon2MemoryKiB)
	}
	if p.Argon2Iterations < 1 {
		add("passwords.argon2_iterations", "must be at least 1")
	}
	if p.Argon2Parallelism < 1 {
		add("passwords.argon2_parallelism", "must be at least 1")
	}
	if p.MaxConcurrent < 0 {
		add("passwords.max_concurrent", "must not be negative (0 derives it from the CPUs)")
	}

	switch c.MFA.Policy {
	case web.MFAOptional, web.MFARequired:
	default:
		add("mfa.policy", "%q is not optional or required", c.MFA.Policy)
	}
	for i, tp := range c.TrustedProxies {
		if _, err := parseProxy(tp); err != nil {
			add(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR prefix", tp)
		}
	}
	t := c.Throttle
	if t.AccountFailures < 1 || t.AccountFailures > 100 {
		add("throttle.account_failures", "%d is outside 1 to 100", t.AccountFailures)
	}
	if t.AddressFailures < 1 {
		add("throttle.address_failures", "must be at least 1")
	}
	if t.BaseLockout <= 0 {
		add("throttle.base_lockout", "must be positive")
	}
	if t.MaxLockout < t.BaseLockout {
		add("throttle.max_lockout", "%s is shorter than throttle.base_lockout", t.MaxLockout)
	}
	switch st := c.Storage; st.Type {
	case StorageBbolt:
		if st.DSN != "" {
			add("storage.dsn", "is for type postgres; bbolt keeps its file in data_dir")
		}
	case StoragePostgres:
		if st.DSN == "" && os.Getenv(EnvDatabaseURL) == "" {
			add("storage.dsn", "required with type postgres (or set %s)", EnvDatabaseURL)
		}
		if msg := dsnProblem(st.DSN); msg != "" {
			add("storage.dsn", "%s", msg)
		}
	default:
		add("storage.type", "%q is not bbolt or postgres", st.Type)
	}
	return ps
}

// dsnProblem says what is wrong with a connection string written in the file:
// one that does not parse, or one holding a password (the file is no place
// for a secret). It never repeats the string.
func dsnProblem(dsn string) string {
	if dsn == "" {
		return ""
	}
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		return "not a PostgreSQL connection string (a postgres:// URL or key=value pairs)"
	}
	if dsnHasPassword(dsn) {
		return "holds a password; remove it and give it through PGPASSWORD or a PGPASSFILE (or put the whole string in " + EnvDatabaseURL + ")"
	}
	return ""
}

// dsnHasPassword reports whether dsn itself carries a password (the URL's
// user:password@ or a password= pair), as opposed to libpq's environment.
func dsnHasPassword(dsn string) bool {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return false
		}
		_, set := u.User.Password()
		return set || u.Query().Has("password")
	}
	return rePasswordPair.MatchString(dsn)
}

var rePasswordPair = regexp.MustCompile(`(^|\s)password\s*=`)

// issuerProblem returns what is wrong with an issuer URL, or "".
func issuerProblem(issuer string) string {
	if issuer == "" {
		return "required"
	}
	if strings.IndexFunc(issuer, unicode.IsSpace) >= 0 {
		return "must not contain whitespace"
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", issuer)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%q must be an absolute http or https URL", issuer)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Sprintf("%q has no host", issuer)
	case u.User != nil:
		return fmt.Sprintf("%q must not contain a user name or password", u.Redacted())
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Sprintf("%q must not have a query", issuer)
	case u.Fragment != "" || strings.Contains(issuer, "#"):
		return fmt.Sprintf("%q must not have a fragment", issuer)
	case strings.HasSuffix(issuer, "/"):
		return fmt.Sprintf("%q must not end with a slash", issuer)
	case u.Scheme == "http" && !policy.IsLoopbackHost(u.Hostname()):
		// As everywhere in Signet: an IPv6 zone (http://[::1%25lo]) is not a
		// loopback host (no browser takes a zone in a URL either).
		return fmt.Sprintf("%q must use https (http is allowed only for localhost, 127.0.0.0/8 and ::1)", issuer)
	}
	return issuerPathProblem(issuer, u)
}

func listenProblem(listen string) string {
	if listen == "" {
		return "required"
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (for example 127.0.0.1:5556 or :443)", listen)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > 65535 {
		return fmt.Sprintf("%q: port must be a number from 0 to 65535", listen)
	}
	return ""
}

// sameListener reports whether two valid host:port addresses name the same
// port on overlapping hosts (an empty host or 0.0.0.0/:: is every host).
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}

// isScopeToken reports whether s is an RFC 6749 scope-token: printable ASCII
// other than space, '"' and '\'.
func isScopeToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return s != ""
}

// parseProxy reads a trusted proxy: an IP address or a CIDR prefix.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// trustedProxies returns the validated trusted proxies as prefixes.
func (c *Config) trustedProxies() []netip.Prefix {
	var out []netip.Prefix
	for _, tp := range c.TrustedProxies {
		if p, err := parseProxy(tp); err == nil {
			out = append(out, p)
		}
	}
	return out
}
