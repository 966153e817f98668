package boltstore

import (
	"context"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/signet-idp/signet/storage"
)

// fillDeep sets every field of v, nested structs included, to a non-zero value;
// slices get spare capacity, so that an append to a shallow copy would write
// into the original. A field of a kind it does not know fails the test: teach
// it, and the clone function, about the new field.
func fillDeep(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString("x-" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 4)
		for i := range 2 {
			fillDeep(t, s.Index(i), path+"[]")
		}
		v.Set(s)
	case reflect.Uint8:
		v.SetUint(9)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Unix(1700000000, 0).UTC()))
			return
		}
		for i := range v.NumField() {
			fillDeep(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	default:
		t.Fatalf("%s: kind %s: teach fillDeep and the clone function about it", path, v.Kind())
	}
}

// sharedSlices names the slices of a and b, at any depth, that share a backing array.
func sharedSlices(a, b reflect.Value, path string) []string {
	switch a.Kind() {
	case reflect.Slice:
		if a.Len() > 0 && a.UnsafePointer() == b.UnsafePointer() {
			return []string{path}
		}
	case reflect.Struct:
		var out []string
		for i := range a.NumField() {
			out = append(out, sharedSlices(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name)...)
		}
		return out
	}
	return nil
}

func checkDeepClone[T any](t *testing.T, clone func(*T) *T) {
	t.Helper()
	orig := new(T)
	fillDeep(t, reflect.ValueOf(orig).Elem(), reflect.TypeOf(orig).Elem().Name())
	c := clone(orig)
	if !reflect.DeepEqual(orig, c) {
		t.Fatalf("clone differs:\n%+v\n%+v", orig, c)
	}
	if shared := sharedSlices(reflect.ValueOf(orig).Elem(), reflect.ValueOf(c).Elem(), ""); len(shared) > 0 {
		t.Fatalf("the clone shares %v with the original", shared)
	}
}

func TestMemoClonesAreDeep(t *testing.T) {
	checkDeepClone(t, cloneUser)
	checkDeepClone(t, cloneGrant)
	checkDeepClone(t, cloneClient)
	checkDeepClone(t, cloneSession)
}

func TestMemo(t *testing.T) {
	ctx := context.Background()
	s := openInternal(t)
	u := &storage.User{ID: "u1", Username: "alice", Groups: []string{"ops"}}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(ctx, "u1")
	if err != nil || got.Username != "alice" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	// A caller's changes to what it got stay with it.
	got.Groups[0] = "admins"
	got.Disabled = true
	if again, err := s.GetUser(ctx, "u1"); err != nil || again.Groups[0] != "ops" || again.Disabled {
		t.Fatalf("GetUser after the caller changed its copy = %+v, %v", again, err)
	}
	// A change is seen at once, through the store or not.
	if _, err := s.UpdateUser(ctx, "u1", func(u *storage.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if again, err := s.GetUser(ctx, "u1"); err != nil || !again.Disabled {
		t.Fatalf("GetUser after UpdateUser = %+v, %v", again, err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return put(tx, bucketUsers, "u1", &storage.User{ID: "u1", Username: "alice", Name: "written elsewhere"})
	}); err != nil {
		t.Fatal(err)
	}
	if again, err := s.GetUser(ctx, "u1"); err != nil || again.Name != "written elsewhere" || again.Disabled {
		t.Fatalf("GetUser after a direct write = %+v, %v", again, err)
	}
}

func TestMemoBound(t *testing.T) {
	s := openInternal(t)
	m := &memo[storage.Grant]{max: 3, clone: cloneGrant}
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, k := range []string{"a", "b", "c", "d", "e"} {
			if err := put(tx, bucketGrants, k, &storage.Grant{ClientID: k}); err != nil {
				return err
			}
			g, err := m.get(tx, bucketGrants, k)
			if err != nil || g.ClientID != k {
				t.Fatalf("get %s = %+v, %v", k, g, err)
			}
		}
		if g, err := m.get(tx, bucketGrants, "none"); g != nil || err != nil {
			t.Fatalf("get of a missing key = %+v, %v", g, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.m) != 3 {
		t.Fatalf("memo holds %d records, want its bound 3", len(m.m))
	}
}
