package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// loginOps: each operation is a whole sign-in by a new browser (no session):
// authorize, login page, form post, callback, code exchange.
func (r *runner) loginOps() []op {
	ops := make([]op, r.cfg.Concurrency)
	for i := range ops {
		ops[i] = func(ctx context.Context) (int, error) {
			b := r.newBrowser()
			code, a, err := b.authorize(ctx)
			if err != nil {
				return b.requests, err
			}
			_, err = r.exchange(ctx, b.client, code, a)
			return b.requests + 1, err
		}
	}
	return ops
}

// signedIn signs one browser in and returns a session that further
// authorizations reuse (single sign-on), so that obtaining codes for the other
// scenarios costs no password hash.
func (r *runner) signedIn(ctx context.Context) (*browser, error) {
	// Setup steps are bounded like operations, so that a scenario's setup
	// cannot take the whole run.
	ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	b := r.newBrowser()
	code, a, err := b.authorize(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if _, err := r.exchange(ctx, b.client, code, a); err != nil {
		return nil, fmt.Errorf("first code exchange: %w", err)
	}
	return b, nil
}

// sibling is another browser sharing b's cookies (its session).
func (b *browser) sibling() *browser {
	return &browser{r: b.r, client: b.r.client(b.client.Jar)}
}

// parallel runs fn(i) for i in [0, n) on at most r.cfg.Concurrency goroutines
// and returns the first error.
func (r *runner) parallel(n int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  int
	)
	for range min(n, r.cfg.Concurrency) {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

type mintedCode struct {
	code string
	auth authorization
}

// mintWindow bounds how long one pool of codes is obtained: codes live about a
// minute, and the pool must still be valid when it is exchanged.
const mintWindow = 20 * time.Second

// codeScenario times code exchanges alone. Codes are obtained before each
// measured phase (untimed, through single sign-on), in pools of CodePool, and
// phases repeat until Duration of exchanges or MaxRequests.
func (r *runner) codeScenario(ctx context.Context) (*measurement, error) {
	session, err := r.signedIn(ctx)
	if err != nil {
		return nil, err
	}
	m := &measurement{}
	for m.elapsed < r.cfg.Duration && len(m.latencies) < r.cfg.MaxRequests && ctx.Err() == nil {
		target := min(r.cfg.CodePool, r.cfg.MaxRequests-len(m.latencies))
		pool, err := r.mintCodes(ctx, session, target)
		if err != nil {
			if ctx.Err() != nil && m.elapsed > 0 {
				break // the run ended: keep the phases measured so far
			}
			return nil, err
		}
		ops := make([]op, r.cfg.Concurrency)
		for i := range ops {
			c := r.client(nil)
			ops[i] = func(ctx context.Context) (int, error) {
				var mc mintedCode
				select {
				case mc = <-pool:
				default:
					return 0, errPoolEmpty
				}
				_, err := r.exchange(ctx, c, mc.code, mc.auth)
				return 1, err
			}
		}
		r.measureInto(ctx, m, r.cfg.Duration-m.elapsed, r.cfg.MaxRequests-len(m.latencies), ops)
	}
	return m, nil
}

// mintCodes obtains up to n codes within mintWindow.
func (r *runner) mintCodes(ctx context.Context, session *browser, n int) (chan mintedCode, error) {
	pool := make(chan mintedCode, n)
	mctx, cancel := context.WithTimeout(ctx, mintWindow)
	defer cancel()
	err := r.parallel(n, func(int) error {
		if mctx.Err() != nil {
			return nil
		}
		ictx, cancel := context.WithTimeout(mctx, r.cfg.RequestTimeout)
		defer cancel()
		code, a, err := session.sibling().authorize(ictx)
		if err != nil {
			if mctx.Err() != nil {
				return nil // the window closed; use what we have
			}
			return fmt.Errorf("obtain a code: %w", err)
		}
		pool <- mintedCode{code, a}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pool) == 0 {
		return nil, errors.New("obtained no code")
	}
	return pool, nil
}

// grants obtains one token response per worker through the session.
func (r *runner) grants(ctx context.Context) ([]*tokenResponse, *browser, error) {
	session, err := r.signedIn(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*tokenResponse, r.cfg.Concurrency)
	err = r.parallel(len(out), func(i int) error {
		ctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
		defer cancel()
		b := session.sibling()
		code, a, err := b.authorize(ctx)
		if err != nil {
			return fmt.Errorf("obtain a code: %w", err)
		}
		if out[i], err = r.exchange(ctx, b.client, code, a); err != nil {
			return fmt.Errorf("code exchange: %w", err)
		}
		return nil
	})
	return out, session, err
}

// refreshOps: each worker keeps its own chain of refresh tokens, rotating on
// every request. A worker whose chain breaks (an error) starts a new one.
func (r *runner) refreshOps(ctx context.Context) ([]op, error) {
	start, session, err := r.grants(ctx)
	if err != nil {
		return nil, err
	}
	ops := make([]op, len(start))
	for i := range ops {
		c := r.client(nil)
		current := start[i].RefreshToken
		ops[i] = func(ctx context.Context) (int, error) {
			n := 0
			if current == "" {
				b := session.sibling()
				code, a, err := b.authorize(ctx)
				n += b.requests
				if err != nil {
					return n, fmt.Errorf("new refresh chain: %w", err)
				}
				tr, err := r.exchange(ctx, c, code, a)
				n++
				if err != nil {
					return n, fmt.Errorf("new refresh chain: %w", err)
				}
				current = tr.RefreshToken
			}
			tr, err := r.tokenRequest(ctx, c, url.Values{
				"grant_type":    {"refresh_token"},
				"refresh_token": {current},
			})
			n++
			if err != nil {
				current = ""
				return n, err
			}
			if tr.RefreshToken == current {
				return n, errors.New("refresh token not rotated")
			}
			current = tr.RefreshToken
			return n, nil
		}
	}
	return ops, nil
}

// tokenOps: userinfo (GET with the access token as Bearer) or introspection
// (POST with client_secret_basic), each worker with its own access token.
func (r *runner) tokenOps(ctx context.Context, scenario string) ([]op, error) {
	grants, _, err := r.grants(ctx)
	if err != nil {
		return nil, err
	}
	ops := make([]op, len(grants))
	for i := range ops {
		c := r.client(nil)
		token := grants[i].AccessToken
		if scenario == Userinfo {
			ops[i] = func(ctx context.Context) (int, error) { return 1, r.userinfo(ctx, c, token) }
		} else {
			ops[i] = func(ctx context.Context) (int, error) { return 1, r.introspect(ctx, c, token) }
		}
	}
	return ops, nil
}

func (r *runner) userinfo(ctx context.Context, c *http.Client, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.endpoints.Userinfo, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	var v struct {
		Sub string `json:"sub"`
	}
	if err := doJSON(c, req, &v); err != nil {
		return fmt.Errorf("userinfo: %w", err)
	}
	if v.Sub == "" {
		return errors.New("userinfo: no sub")
	}
	return nil
}

func (r *runner) introspect(ctx context.Context, c *http.Client, token string) error {
	body := url.Values{"token": {token}, "token_type_hint": {"access_token"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoints.Introspection, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	r.authenticate(req)
	var v struct {
		Active bool `json:"active"`
	}
	if err := doJSON(c, req, &v); err != nil {
		return fmt.Errorf("introspection: %w", err)
	}
	if !v.Active {
		return errors.New("introspection: token reported inactive")
	}
	return nil
}

// doJSON expects a 200 JSON answer and decodes it into v.
func doJSON(c *http.Client, req *http.Request, v any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, snippet(body))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("status 200 but %w", err)
	}
	return nil
}
