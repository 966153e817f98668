package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEnvSecretProblem checks the one reading of a secret given in the
// environment that config check uses for both backends: absent, set twice,
// not a key, a good key, and a _FILE naming a good or a missing file.
func TestEnvSecretProblem(t *testing.T) {
	const env = "SIGNET_TEST_SECRET"
	good := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		val, path  string // "" leaves it unset
		wantGiven  bool
		wantInText string // "" wants no problem
	}{
		{name: "absent"},
		{name: "both", val: good, path: file, wantGiven: true, wantInText: "both " + env + " and " + env + "_FILE are set"},
		{name: "bad value", val: "short", wantGiven: true, wantInText: "the secret: " + env + ":"},
		{name: "good value", val: good, wantGiven: true},
		{name: "good file", path: file, wantGiven: true},
		{name: "missing file", path: file + ".gone", wantGiven: true, wantInText: "the secret: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.val != "" {
				t.Setenv(env, c.val)
			}
			if c.path != "" {
				t.Setenv(env+"_FILE", c.path)
			}
			given, problem := envSecretProblem(env, "the secret")
			if given != c.wantGiven {
				t.Errorf("given = %v, want %v", given, c.wantGiven)
			}
			switch {
			case c.wantInText == "" && problem != "":
				t.Errorf("problem %q, want none", problem)
			case c.wantInText != "" && !strings.Contains(problem, c.wantInText):
				t.Errorf("problem %q, want it to contain %q", problem, c.wantInText)
			}
		})
	}
}
