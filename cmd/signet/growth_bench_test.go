package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-idp/signet/storage"
)

// BenchmarkRefreshGrowth issues b.N refresh rotations (a million for
// BENCHMARKS.md: -benchtime 1000000x; CI runs -benchtime 50x) through the
// storage calls the token endpoint makes, on the real server's database, with
// the janitor running as `signet serve` runs it, and a simulated clock that
// covers four idle lifetimes of a refresh token in the run. It reports the
// database file's size at half and at the end of the run (the file stays flat
// once the janitor deletes what expires: bbolt reuses freed pages) and how long
// `signet serve`'s wiring takes, on that file, to be ready to answer.
//
// The rotations go to storage directly (no HTTP, no signatures), so that a
// million of them take minutes; the records are those of the token endpoint:
// a family per grant, refresh tokens rotated in it, JWT access tokens with no
// record.
func BenchmarkRefreshGrowth(b *testing.B) {
	const (
		idle = time.Hour // refresh token idle lifetime, simulated
		// The janitor's batch, as serve's loop.
		janitorLimit = 500
	)
	// Every chain must be rotated well within its idle lifetime, a quarter of
	// it on average: at most b.N/16 chains (1024 for a million rotations),
	// each rotated by one of the workers in turn.
	families := min(max(b.N/16, 1), 1024)
	workers := min(32, families)
	families -= families % workers
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(b.TempDir(), "data")
	cfg.LogLevel = "error"
	ctx := context.Background()
	s, err := newServer(ctx, cfg, time.Now, withLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	store := s.store

	// The simulated clock spans 4 idle lifetimes over b.N rotations.
	t0 := time.Now().UTC()
	step := 4 * idle / time.Duration(max(b.N, 1))
	var done atomic.Int64
	now := func() time.Time { return t0.Add(time.Duration(done.Load()) * step) }

	// One grant per family, as a code exchange leaves it.
	heads := make([]string, families)
	famIDs := make([]string, families)
	for i := range families {
		famIDs[i] = randomHex(16)
		at := &storage.AccessToken{ID: randomHex(18), JWT: true, ClientID: "bench", UserID: "u1", IssuedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
		fam := &storage.RefreshFamily{ID: famIDs[i], ClientID: "bench", UserID: "u1", Scopes: []string{"openid", "offline_access"},
			CreatedAt: t0, ExpiresAt: t0.Add(1000 * idle), KeepUntil: t0.Add(1000*idle + 10*time.Minute), Offline: true}
		heads[i] = randomHex(32)
		rt := &storage.RefreshToken{Hash: heads[i], ClientID: "bench", UserID: "u1", Scopes: fam.Scopes, IssuedAt: t0, ExpiresAt: t0.Add(idle)}
		ar := &storage.AuthRequest{ID: randomHex(24), ClientID: "bench", RedirectURI: "https://rp.example/cb", Scopes: fam.Scopes,
			CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute), Done: true, UserID: "u1", AuthTime: t0}
		code := []byte(randomHex(32))
		if err := store.CreateAuthRequest(ctx, ar); err != nil {
			b.Fatal(err)
		}
		if err := store.IssueCode(ctx, ar.ID, code, t0.Add(time.Minute)); err != nil {
			b.Fatal(err)
		}
		if err := store.RedeemCode(ctx, code, at, fam, rt); err != nil {
			b.Fatal(err)
		}
	}

	janitor := func() {
		for {
			n, err := store.DeleteExpired(ctx, now(), janitorLimit)
			if err != nil {
				b.Error(err)
				return
			}
			if n < janitorLimit {
				return
			}
		}
	}
	dbPath := filepath.Join(cfg.DataDir, dbFileName)
	size := func() float64 {
		fi, err := os.Stat(dbPath)
		if err != nil {
			b.Fatal(err)
		}
		return float64(fi.Size()) / (1 << 20)
	}
	// The janitor runs about once a simulated minute, as serve's runs once a
	// minute: every janitorEvery rotations.
	janitorEvery := max(int64(time.Minute/max(step, 1)), 1)
	var halfMiB float64
	var halfOnce sync.Once

	b.ResetTimer()
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for k := 0; ; k++ {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				// Each family's chain is rotated by one worker only.
				f := w + workers*(k%(families/workers))
				at := now()
				nextHash := randomHex(32)
				_, err := store.RotateRefreshToken(ctx, storage.Rotation{
					OldHash: heads[f], Now: at,
					Next:   &storage.RefreshToken{Hash: nextHash, ClientID: "bench", UserID: "u1", Scopes: []string{"openid", "offline_access"}, IssuedAt: at, ExpiresAt: at.Add(idle)},
					Access: &storage.AccessToken{ID: randomHex(18), JWT: true, ClientID: "bench", UserID: "u1", IssuedAt: at, ExpiresAt: at.Add(10 * time.Minute)},
				})
				if err != nil {
					b.Errorf("rotation %d of family %d: %v", i, f, err)
					return
				}
				heads[f] = nextHash
				n := done.Add(1)
				if n%janitorEvery == 0 {
					janitor()
				}
				if n == int64(b.N)/2 {
					halfOnce.Do(func() { janitor(); halfMiB = size() })
				}
			}
		})
	}
	wg.Wait()
	janitor()
	b.StopTimer()
	endMiB := size()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rotations/s")
	b.ReportMetric(halfMiB, "MiB-at-half")
	b.ReportMetric(endMiB, "MiB-at-end")
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}

	// Start-up on that file: open, check, wire, until the provider is ready.
	start := time.Now()
	s2, err := newServer(ctx, cfg, time.Now, withLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	for deadline := start.Add(time.Minute); !s2.provider.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			s2.store.Close()
			b.Fatalf("the provider not ready %s after start-up began", time.Since(start).Round(time.Millisecond))
		}
	}
	ready := time.Since(start)
	s2.store.Close()
	b.ReportMetric(float64(ready.Microseconds())/1000, "ms-ready")
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "growth: %d rotations, %.1f MiB at half, %.1f MiB at end, ready in %s\n", b.N, halfMiB, endMiB, ready)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
