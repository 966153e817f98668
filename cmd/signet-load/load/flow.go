package load

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// endpoints are the parts of the discovery document the scenarios use.
type endpoints struct {
	Issuer        string `json:"issuer"`
	Authorization string `json:"authorization_endpoint"`
	Token         string `json:"token_endpoint"`
	Userinfo      string `json:"userinfo_endpoint"`
	Introspection string `json:"introspection_endpoint"`
	JWKS          string `json:"jwks_uri"`
}

// discover reads the discovery document and checks that it names the issuer.
func (r *runner) discover(ctx context.Context) error {
	u := r.cfg.Issuer + "/.well-known/openid-configuration"
	body, status, err := r.fetch(ctx, r.client(nil), u)
	if err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("discovery: GET %s: status %d", u, status)
	}
	if err := json.Unmarshal(body, &r.endpoints); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	e := r.endpoints
	if e.Issuer != r.cfg.Issuer {
		return fmt.Errorf("discovery: issuer is %q, want %q", e.Issuer, r.cfg.Issuer)
	}
	var missing []string
	for name, v := range map[string]string{"jwks_uri": e.JWKS, "authorization_endpoint": e.Authorization, "token_endpoint": e.Token} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	for _, sc := range r.cfg.Scenarios {
		if sc == Userinfo && e.Userinfo == "" {
			missing = append(missing, "userinfo_endpoint")
		}
		if sc == Introspect && e.Introspection == "" {
			missing = append(missing, "introspection_endpoint")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("discovery: the document lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

func (r *runner) fetch(ctx context.Context, c *http.Client, u string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return body, resp.StatusCode, err
}

// browser is one person's user agent: a cookie jar and a redirect loop that
// stays on the issuer and stops at the client's redirect URI.
type browser struct {
	r      *runner
	client *http.Client
	// requests counts the HTTP requests made.
	requests int
}

func (r *runner) newBrowser() *browser {
	jar, _ := cookiejar.New(nil) // never fails without options
	return &browser{r: r, client: r.client(jar)}
}

// authorization is one authorization request's secrets.
type authorization struct {
	state, nonce, verifier string
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authURL returns an authorization URL with PKCE S256, state and nonce.
func (r *runner) authURL() (string, authorization) {
	a := authorization{state: randomString(16), nonce: randomString(16), verifier: randomString(32)}
	sum := sha256.Sum256([]byte(a.verifier))
	v := url.Values{
		"client_id":             {r.cfg.ClientID},
		"response_type":         {"code"},
		"redirect_uri":          {r.cfg.RedirectURI},
		"scope":                 {strings.Join(r.cfg.Scopes, " ")},
		"state":                 {a.state},
		"nonce":                 {a.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	sep := "?"
	if strings.Contains(r.endpoints.Authorization, "?") {
		sep = "&"
	}
	return r.endpoints.Authorization + sep + v.Encode(), a
}

// maxSteps bounds the redirects and forms of one sign-in.
const maxSteps = 12

// authorize runs the browser part of the code flow and returns the code: it
// follows redirects on the issuer, fills the login form (and submits any other
// form the provider shows, such as consent, with its approving button),
// and stops at the redirect URI.
func (b *browser) authorize(ctx context.Context) (string, authorization, error) {
	u, a := b.r.authURL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", a, err
	}
	passwordForms := 0
	for range maxSteps {
		resp, err := b.client.Do(req)
		b.requests++
		if err != nil {
			return "", a, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return "", a, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return "", a, fmt.Errorf("%s %s: %d without Location", req.Method, req.URL.Path, resp.StatusCode)
			}
			if atRedirectURI(loc, b.r.cfg.RedirectURI) {
				return b.r.codeFrom(loc, a)
			}
			if loc.Scheme+"://"+loc.Host != b.r.origin() {
				return "", a, fmt.Errorf("redirected off the issuer to %s", loc.Redacted())
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil); err != nil {
				return "", a, err
			}
		case resp.StatusCode == http.StatusOK:
			f, err := b.r.nextForm(string(body), req.URL)
			if err != nil {
				return "", a, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
			}
			if f.login {
				if passwordForms++; passwordForms > 1 {
					return "", a, fmt.Errorf("the sign-in was refused: %s", snippet(body))
				}
			}
			if req, err = http.NewRequestWithContext(ctx, http.MethodPost, f.action, strings.NewReader(f.values.Encode())); err != nil {
				return "", a, err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", b.r.origin())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		default:
			return "", a, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, snippet(body))
		}
	}
	return "", a, fmt.Errorf("no code after %d steps", maxSteps)
}

func (r *runner) origin() string {
	u, _ := url.Parse(r.cfg.Issuer)
	return u.Scheme + "://" + u.Host
}

// atRedirectURI reports whether loc is the client's redirect URI (with a query).
func atRedirectURI(loc *url.URL, redirectURI string) bool {
	ru, err := url.Parse(redirectURI)
	if err != nil {
		return false
	}
	return loc.Scheme == ru.Scheme && loc.Host == ru.Host && loc.Path == ru.Path
}

// codeFrom checks the authorization response (state, iss, no error) and
// returns its code.
func (r *runner) codeFrom(loc *url.URL, a authorization) (string, authorization, error) {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", a, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != a.state {
		return "", a, errors.New("authorization response: state does not match")
	}
	if iss := q.Get("iss"); iss != "" && iss != r.cfg.Issuer {
		return "", a, fmt.Errorf("authorization response: iss %q is not the issuer", iss)
	}
	code := q.Get("code")
	if code == "" {
		return "", a, errors.New("authorization response without a code")
	}
	return code, a, nil
}

// form is a filled form ready to post.
type form struct {
	action string
	values url.Values
	// login is true for a form with a password field.
	login bool
}

var (
	formRE   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`(?is)<input\b([^>]*)>|<button\b([^>]*)>(.*?)</button>`)
	attrRE   = regexp.MustCompile(`(?s)([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>` + "`" + `]+)))?`)
	passType = "password"
	// approveRE recognises a submit button that grants (consent pages).
	approveRE = regexp.MustCompile(`(?i)\b(allow|approve|accept|agree|grant|consent|continue|yes)\b`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(s, -1) {
		name := strings.ToLower(a[1])
		if _, seen := m[name]; seen {
			continue
		}
		m[name] = html.UnescapeString(a[2] + a[3] + a[4])
	}
	return m
}

// nextForm picks the form a person would submit on page: the one with a
// password field (filled with the credentials), or else the first POST form
// (submitted as its first submit button would). Hidden inputs are sent as
// rendered.
func (r *runner) nextForm(page string, base *url.URL) (form, error) {
	forms := formRE.FindAllStringSubmatch(page, -1)
	if len(forms) == 0 {
		return form{}, fmt.Errorf("a page without a form: %s", snippet([]byte(page)))
	}
	pick := -1
	for i, f := range forms {
		if hasPasswordInput(f[2]) {
			pick = i
			break
		}
	}
	if pick < 0 {
		if strings.Contains(page, "aria-invalid") || strings.Contains(page, `role="alert"`) {
			return form{}, fmt.Errorf("the provider shows an error: %s", snippet([]byte(page)))
		}
		for i, f := range forms {
			if strings.EqualFold(attrs(f[1])["method"], "post") {
				pick = i
				break
			}
		}
	}
	if pick < 0 {
		return form{}, fmt.Errorf("no form to submit: %s", snippet([]byte(page)))
	}
	fa := attrs(forms[pick][1])
	action, err := base.Parse(fa["action"])
	if err != nil {
		return form{}, fmt.Errorf("form action %q: %w", fa["action"], err)
	}
	if action.Scheme+"://"+action.Host != r.origin() {
		return form{}, fmt.Errorf("form posts off the issuer, to %s", action.Redacted())
	}
	vals := url.Values{}
	var userField, passField, firstText string
	var submits [][3]string // name, value and label of the submit buttons, in order
	for _, in := range inputRE.FindAllStringSubmatch(forms[pick][2], -1) {
		isButton := in[1] == "" && strings.HasPrefix(strings.ToLower(in[0]), "<button")
		a := attrs(in[1] + in[2])
		name, typ := a["name"], strings.ToLower(a["type"])
		switch {
		case isButton && typ == "":
			typ = "submit"
		case typ == "":
			typ = "text"
		}
		if typ == "submit" || typ == "image" {
			label := a["value"]
			if isButton {
				label += " " + in[3]
			}
			submits = append(submits, [3]string{name, a["value"], label})
			continue
		}
		if name == "" {
			continue
		}
		_, checked := a["checked"]
		switch typ {
		case "button", "reset", "file":
		case "checkbox", "radio":
			if checked {
				v := a["value"]
				if v == "" {
					v = "on"
				}
				vals.Add(name, v)
			}
		case passType:
			passField = name
		default:
			if name == r.cfg.UsernameField {
				userField = name
			} else if firstText == "" && (typ == "text" || typ == "email") {
				firstText = name
			}
			vals.Set(name, a["value"])
		}
	}
	// A browser sends the button that was pressed: the one that approves, when
	// the form offers a choice (consent), else the first.
	if len(submits) > 0 {
		press := submits[0]
		for _, b := range submits {
			if approveRE.MatchString(b[0] + " " + b[2]) {
				press = b
				break
			}
		}
		if press[0] != "" {
			vals.Set(press[0], press[1])
		}
	}
	if passField != "" {
		if name := r.cfg.PasswordField; strings.Contains(forms[pick][2], `name="`+name+`"`) {
			passField = name
		}
		if userField == "" {
			userField = firstText
		}
		if userField == "" {
			return form{}, errors.New("the login form has no username field")
		}
		vals.Set(userField, r.cfg.Username)
		vals.Set(passField, r.cfg.Password)
	}
	return form{action: action.String(), values: vals, login: passField != ""}, nil
}

func hasPasswordInput(s string) bool {
	for _, in := range inputRE.FindAllStringSubmatch(s, -1) {
		if strings.EqualFold(attrs(in[1])["type"], passType) {
			return true
		}
	}
	return false
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// tokenResponse is what the token endpoint answers.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// tokenRequest posts form to the token endpoint with the client's credentials
// (client_secret_basic, or client_id in the body for a public client).
func (r *runner) tokenRequest(ctx context.Context, c *http.Client, form url.Values) (*tokenResponse, error) {
	if r.cfg.ClientSecret == "" {
		form.Set("client_id", r.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoints.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	r.authenticate(req)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("token endpoint: status %d: %s", resp.StatusCode, snippet(body))
	}
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		return nil, fmt.Errorf("token endpoint: status %d: %s: %s", resp.StatusCode, tr.Error, tr.Description)
	}
	if tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, errors.New("token endpoint: no bearer access token")
	}
	if r.wants("openid") && strings.Count(tr.IDToken, ".") != 2 {
		return nil, errors.New("token endpoint: no ID token")
	}
	if r.wants("offline_access") && tr.RefreshToken == "" {
		return nil, errors.New("token endpoint: no refresh token")
	}
	r.noteAlgs(&tr)
	return &tr, nil
}

func (r *runner) wants(scope string) bool {
	for _, s := range r.cfg.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// authenticate adds client_secret_basic credentials (RFC 6749, section 2.3.1:
// form-encoded, then Basic).
func (r *runner) authenticate(req *http.Request) {
	if r.cfg.ClientSecret != "" {
		req.SetBasicAuth(url.QueryEscape(r.cfg.ClientID), url.QueryEscape(r.cfg.ClientSecret))
	}
}

// exchange redeems a code with its PKCE verifier.
func (r *runner) exchange(ctx context.Context, c *http.Client, code string, a authorization) (*tokenResponse, error) {
	return r.tokenRequest(ctx, c, url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {r.cfg.RedirectURI},
		"code_verifier": {a.verifier},
	})
}
