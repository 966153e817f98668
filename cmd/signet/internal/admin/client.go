package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// dialTimeout bounds connecting to the socket; nobody listening fails at once.
const dialTimeout = 2 * time.Second

// Client is the Manager that asks a running server over its admin socket.
type Client struct {
	http *http.Client
}

// Dial connects to the admin socket at socketPath and returns a Client for it. It
// fails fast when nobody listens there (no file, a stale file, or no permission).
func Dial(socketPath string) (*Client, error) {
	conn, err := net.DialTimeout("unix", socketPath, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	_ = conn.Close()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: dialTimeout}
			return d.DialContext(ctx, "unix", socketPath)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	// The timeout only stops a hung server from hanging the CLI: hashing a
	// password on a busy server may take a while.
	return &Client{http: &http.Client{Transport: tr, Timeout: 2 * time.Minute}}, nil
}

// WaitDial dials the socket at socketPath until it answers or timeout passes,
// for a caller (a test, say) that has just started ListenAndServe in a
// goroutine sending its result to done: a server that stopped before it
// answered is reported at once, and its result is put back in done (which
// needs room for it) for whoever waits on it.
func WaitDial(socketPath string, done chan error, timeout time.Duration) (*Client, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := Dial(socketPath)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("admin socket %s never answered in %s: %w", socketPath, timeout, err)
		}
		select {
		case serr := <-done:
			done <- serr
			return nil, fmt.Errorf("ListenAndServe returned before the admin socket %s answered: %v", socketPath, serr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close releases the Client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// call sends in as JSON to the operation name and decodes the answer into
// out. An error response becomes an *Error of the same kind and message as on
// the server. Transport errors name the operation, never the body.
func (c *Client) call(ctx context.Context, name string, in, out any) error {
	method, path := http.MethodPost, "/v1/"+name
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("admin API %s %s: encode request: %w", method, path, err)
	}
	// The host is ignored: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://signet-admin"+path, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // its message repeats the URL
		}
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API %s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error == "" {
			return fmt.Errorf("admin API %s %s: %s", method, path, resp.Status)
		}
		kind := eb.Kind
		if kind == "" {
			kind = kindOfStatus(resp.StatusCode)
		}
		return &Error{Kind: kind, Msg: eb.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("admin API %s %s: decode response: %w", method, path, err)
	}
	return nil
}

func kindOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return KindInvalid
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusConflict:
		return KindConflict
	}
	return KindInternal
}
