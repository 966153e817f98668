package signettest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Browser is a cookie jar that stops at the relying party's redirect URI.
type Browser struct {
	T      testing.TB
	Client *http.Client
}

func NewBrowser(t testing.TB) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, Client: &http.Client{
		Jar: jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host == "127.0.0.1:9" {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}}
}

type Page struct {
	Status int
	URL    *url.URL
	Body   string
	Header http.Header
}

func (b *Browser) Do(req *http.Request) Page {
	b.T.Helper()
	resp, err := b.Client.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	u := resp.Request.URL
	if loc, err := resp.Location(); err == nil {
		u = loc
	}
	return Page{Status: resp.StatusCode, URL: u, Body: string(body), Header: resp.Header}
}

func (b *Browser) Get(u string) Page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.Do(req)
}

var (
	InputRE    = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"`)
	CheckboxRE = regexp.MustCompile(`<input[^>]*type="checkbox"[^>]*name="([^"]+)"[^>]*value="([^"]*)"[^>]*>`)
)

// Submit posts the page's form (its hidden inputs plus fields), as a browser would.
func (b *Browser) Submit(p Page, action string, fields url.Values) Page {
	b.T.Helper()
	form := url.Values{}
	for _, m := range InputRE.FindAllStringSubmatch(p.Body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	// Checked, enabled checkboxes are submitted as a browser would.
	for _, m := range CheckboxRE.FindAllStringSubmatch(p.Body, -1) {
		if strings.Contains(m[0], " checked") && !strings.Contains(m[0], " disabled") {
			form.Add(m[1], html.UnescapeString(m[2]))
		}
	}
	for k, v := range fields {
		form[k] = v
	}
	target := p.URL.ResolveReference(&url.URL{Path: action})
	req, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", target.Scheme+"://"+target.Host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.Do(req)
}

func (b *Browser) Login(p Page, user, pw string) Page {
	return b.Submit(p, "/login", url.Values{"username": {user}, "password": {pw}})
}
