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
	"strings"
	"time"

	"github.com/signet-idp/signet/web/account"
)

// dialTimeout bounds connecting to the socket; nobody listening fails at once.
const dialTimeout = 2 * time.Second

// Client is the Manager that talks to a running server over its admin socket.
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

// Close releases the Client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// AddUser implements Manager.
func (c *Client) AddUser(ctx context.Context, in AddUserInput) (UserInfo, error) {
	var u UserInfo
	err := c.do(ctx, http.MethodPost, "/v1/users", in, &u)
	return u, err
}

// ListUsers implements Manager.
func (c *Client) ListUsers(ctx context.Context) ([]UserInfo, error) {
	var us []UserInfo
	err := c.do(ctx, http.MethodGet, "/v1/users", nil, &us)
	return us, err
}

// ShowUser implements Manager.
func (c *Client) ShowUser(ctx context.Context, username string) (UserInfo, error) {
	if err := validateUsername(username); err != nil {
		return UserInfo{}, err
	}
	var u UserInfo
	err := c.do(ctx, http.MethodGet, "/v1/users/"+pathSegment(username), nil, &u)
	return u, err
}

// DisableUser implements Manager.
func (c *Client) DisableUser(ctx context.Context, username string) error {
	if err := validateUsername(username); err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/disable", nil, nil)
}

// SetPassword implements Manager.
func (c *Client) SetPassword(ctx context.Context, username, password string) (account.Ended, error) {
	var ended account.Ended
	if err := validateUsername(username); err != nil {
		return ended, err
	}
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/password",
		setPasswordRequest{Password: password}, &ended)
	return ended, err
}

// AddClient implements Manager.
func (c *Client) AddClient(ctx context.Context, in AddClientInput) (ClientCreated, error) {
	var cc ClientCreated
	err := c.do(ctx, http.MethodPost, "/v1/clients", in, &cc)
	return cc, err
}

// ListClients implements Manager.
func (c *Client) ListClients(ctx context.Context) ([]ClientInfo, error) {
	var cs []ClientInfo
	err := c.do(ctx, http.MethodGet, "/v1/clients", nil, &cs)
	return cs, err
}

// ShowClient implements Manager.
func (c *Client) ShowClient(ctx context.Context, id string) (ClientInfo, error) {
	if err := validateClientID(id); err != nil {
		return ClientInfo{}, err
	}
	var ci ClientInfo
	err := c.do(ctx, http.MethodGet, "/v1/clients/"+pathSegment(id), nil, &ci)
	return ci, err
}

// RemoveClient implements Manager.
func (c *Client) RemoveClient(ctx context.Context, id string) error {
	if err := validateClientID(id); err != nil {
		return err
	}
	return c.do(ctx, http.MethodDelete, "/v1/clients/"+pathSegment(id), nil, nil)
}

// ListKeys implements Manager.
func (c *Client) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	var ks []KeyInfo
	err := c.do(ctx, http.MethodGet, "/v1/keys", nil, &ks)
	return ks, err
}

// LogoutUser implements Manager.
func (c *Client) LogoutUser(ctx context.Context, username string) (int, error) {
	var res LogoutResult
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/logout", nil, &res)
	return res.Sessions, err
}

// UnlockUser implements Manager.
func (c *Client) UnlockUser(ctx context.Context, username string) (bool, error) {
	var res UnlockResult
	err := c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/unlock", nil, &res)
	return res.WasLocked, err
}

// ResetMFA implements Manager.
func (c *Client) ResetMFA(ctx context.Context, username string) error {
	return c.do(ctx, http.MethodPost, "/v1/users/"+pathSegment(username)+"/mfa/reset", nil, nil)
}

// ListGrants implements Manager.
func (c *Client) ListGrants(ctx context.Context, username string) ([]GrantInfo, error) {
	var gs []GrantInfo
	err := c.do(ctx, http.MethodGet, "/v1/users/"+pathSegment(username)+"/grants", nil, &gs)
	return gs, err
}

// RevokeGrant implements Manager.
func (c *Client) RevokeGrant(ctx context.Context, username, clientID string) error {
	return c.do(ctx, http.MethodDelete, "/v1/users/"+pathSegment(username)+"/grants/"+pathSegment(clientID), nil, nil)
}

// RotateKeys implements Manager.
func (c *Client) RotateKeys(ctx context.Context, alg string) ([]KeyInfo, error) {
	var ks []KeyInfo
	err := c.do(ctx, http.MethodPost, "/v1/keys/rotate", rotateRequest{Alg: alg}, &ks)
	return ks, err
}

// RetireKey implements Manager.
func (c *Client) RetireKey(ctx context.Context, kid string) ([]KeyInfo, error) {
	var ks []KeyInfo
	err := c.do(ctx, http.MethodPost, "/v1/keys/"+pathSegment(kid)+"/retire", nil, &ks)
	return ks, err
}

// RewrapKeys implements Manager.
func (c *Client) RewrapKeys(ctx context.Context, in RewrapInput) (RewrapResult, error) {
	var res RewrapResult
	err := c.do(ctx, http.MethodPost, "/v1/keys/rewrap", in, &res)
	return res, err
}

// do sends in (when not nil) as JSON and decodes the answer into out (when not
// nil). An error response becomes an *Error of the same kind and message as on the
// server. Transport errors name the method and path, never the body.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin API %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	// The host is ignored: the transport always dials the socket.
	req, err := http.NewRequestWithContext(ctx, method, "http://signet-admin"+path, body)
	if err != nil {
		return fmt.Errorf("admin API %s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
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
	if out == nil {
		return nil
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

// pathSegment escapes s as one path segment. "." and ".." (valid usernames) are
// percent-encoded so that nothing between here and the server's mux treats them
// as relative references.
func pathSegment(s string) string {
	if strings.Trim(s, ".") == "" {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return url.PathEscape(s)
}
