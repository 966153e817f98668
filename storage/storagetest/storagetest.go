package storagetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

// Run runs the conformance suite. newStore must return a new, empty store for each
// subtest and close it (t.Cleanup) when the subtest ends. Subtests do not run in
// parallel with each other.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Clients", clientTests},
		{"Users", userTests},
		{"Sessions", sessionTests},
		{"AuthRequests", authRequestTests},
		{"Codes", codeTests},
		{"AccessTokens", accessTokenTests},
		{"Refresh", refreshTests},
		{"Keys", keyTests},
		{"Assertions", assertionTests},
		{"DeleteExpired", expiryTests},
		{"Logouts", logoutTests},
		{"Grants", grantTests},
		{"People", peopleTests},
		{"Devices", deviceTests},
		{"Throttles", throttleTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

// t0 is the suite's "now". Times are whole seconds in UTC so that every backend can
// store them exactly.
var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)

var errBoom = errors.New("boom from the update function")

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantEqual fails when got and want differ (see diff).
func wantEqual(t *testing.T, got, want any, what string) {
	t.Helper()
	if d := diff(reflect.ValueOf(got), reflect.ValueOf(want), ""); d != "" {
		t.Errorf("%s differs: %s", what, d)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// diff compares like reflect.DeepEqual, except that times compare with Equal (a
// backend may return another location) and a nil slice equals an empty one. It
// returns where the first difference is, or "".
func diff(got, want reflect.Value, path string) string {
	if !got.IsValid() || !want.IsValid() {
		if got.IsValid() != want.IsValid() {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
	if got.Type() != want.Type() {
		return fmt.Sprintf("%s: got type %s, want %s", path, got.Type(), want.Type())
	}
	if got.Type() == timeType {
		g, w := got.Interface().(time.Time), want.Interface().(time.Time)
		if !g.Equal(w) {
			return fmt.Sprintf("%s: got %s, want %s", path, g, w)
		}
		return ""
	}
	switch got.Kind() {
	case reflect.Pointer, reflect.Interface:
		if got.IsNil() || want.IsNil() {
			if got.IsNil() != want.IsNil() {
				return fmt.Sprintf("%s: got %v, want %v", path, got, want)
			}
			return ""
		}
		return diff(got.Elem(), want.Elem(), path)
	case reflect.Struct:
		for i := range got.NumField() {
			if d := diff(got.Field(i), want.Field(i), path+"."+got.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if got.Len() != want.Len() {
			return fmt.Sprintf("%s: got %v (len %d), want %v (len %d)", path, got, got.Len(), want, want.Len())
		}
		for i := range got.Len() {
			if d := diff(got.Index(i), want.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
		return ""
	default:
		if !got.Equal(want) {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
}

// ids returns the ids of records in order.
func ids[T any](records []*T, id func(*T) string) []string {
	out := make([]string, 0, len(records))
	for _, r := range records {
		out = append(out, id(r))
	}
	return out
}

func wantIDs(t *testing.T, got, want []string, what string) {
	t.Helper()
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got ids %q, want %q", what, got, want)
	}
}

// codeHash and tokenHash derive distinct hashes from names, as callers would from
// random values.
func codeHash(name string) []byte {
	h := sha256.Sum256([]byte("code:" + name))
	return h[:]
}

func tokenHash(name string) string {
	h := sha256.Sum256([]byte("refresh:" + name))
	return hex.EncodeToString(h[:])
}
