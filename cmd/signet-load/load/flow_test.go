package load

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestNextForm(t *testing.T) {
	r := &runner{cfg: Config{Issuer: "http://127.0.0.1:5556", Username: "alice", Password: "pw"}}
	r.cfg.applyDefaults()
	base, _ := url.Parse("http://127.0.0.1:5556/login?authRequestID=x")
	for _, tc := range []struct {
		name, page string
		want       url.Values
		action     string
		login      bool
	}{
		{
			name: "signet login",
			page: `<form method="post" action="/login" class="form" id="login-form">
<input type="hidden" name="auth_request_id" value="AR&#43;1">
<input type="hidden" name="csrf_token" value="tok">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required value="" autofocus>
<input id="password" name="password" type="password" required>
<button type="submit" id="submit">Sign in</button>
</form>`,
			want:   url.Values{"auth_request_id": {"AR+1"}, "csrf_token": {"tok"}, "username": {"alice"}, "password": {"pw"}},
			action: "http://127.0.0.1:5556/login",
			login:  true,
		},
		{
			name: "other field names, attributes in another order",
			page: `<form action='/auth/local/login?back=&amp;state=s' method=POST>
<input required type="text" id="login" name="login" placeholder="email">
<input name="pw" type="password"><input value="v" name="req" type="hidden">
<button type="submit">Login</button></form>`,
			want:   url.Values{"login": {"alice"}, "pw": {"pw"}, "req": {"v"}},
			action: "http://127.0.0.1:5556/auth/local/login?back=&state=s",
			login:  true,
		},
		{
			name: "consent: the approving button, checked scopes only",
			page: `<p>Allow App?</p><form method="post" action="/consent">
<input type="hidden" name="auth_request_id" value="a"><input type="hidden" name="csrf_token" value="t">
<input type="checkbox" name="scope" value="email" checked><input type="checkbox" name="scope" value="calendar.read">
<button type="submit" name="decision" value="deny">Cancel</button>
<button type="submit" name="decision" value="allow">Allow</button></form>`,
			want:   url.Values{"auth_request_id": {"a"}, "csrf_token": {"t"}, "scope": {"email"}, "decision": {"allow"}},
			action: "http://127.0.0.1:5556/consent",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := r.nextForm(tc.page, base)
			if err != nil {
				t.Fatal(err)
			}
			if f.action != tc.action || f.login != tc.login || f.values.Encode() != tc.want.Encode() {
				t.Errorf("got %s %v %s, want %s %v %s", f.action, f.login, f.values.Encode(), tc.action, tc.login, tc.want.Encode())
			}
		})
	}
	if _, err := r.nextForm(`<form method="post" action="https://evil.example/x"><input type="password" name="p"><input name="u"></form>`, base); err == nil {
		t.Error("a form posting off the issuer was accepted")
	}
	if _, err := r.nextForm(`<p>Something went wrong</p>`, base); err == nil {
		t.Error("a page without a form was accepted")
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d", p)
	}
	if p := percentile(d[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %d", p)
	}
}

func TestConfigRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"unknown scenario":         {Issuer: "http://127.0.0.1:1", Scenarios: []string{"nope"}},
		"not a URL":                {Issuer: "ftp://127.0.0.1"},
		"no client for login":      {Issuer: "http://127.0.0.1:1", Scenarios: []string{Login}},
		"remote":                   {Issuer: "http://203.0.113.7", Scenarios: []string{JWKS}},
		"refresh without offline":  {Issuer: "http://127.0.0.1:1", Scenarios: []string{Refresh}, ClientID: "c", RedirectURI: "http://127.0.0.1:9/cb", Username: "u", Password: "p", Scopes: []string{"openid"}},
		"negative concurrency":     {Issuer: "http://127.0.0.1:1", Scenarios: []string{JWKS}, Concurrency: -1},
		"negative duration":        {Issuer: "http://127.0.0.1:1", Scenarios: []string{JWKS}, Duration: -time.Second},
		"negative max requests":    {Issuer: "http://127.0.0.1:1", Scenarios: []string{JWKS}, MaxRequests: -1},
		"negative request timeout": {Issuer: "http://127.0.0.1:1", Scenarios: []string{JWKS}, RequestTimeout: -time.Second},
	} {
		_, err := Run(context.Background(), cfg, nil)
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.HasPrefix(name, "negative") && !strings.Contains(err.Error(), "negative") {
			// Discovery at 127.0.0.1:1 fails too: the refusal must be the value's.
			t.Errorf("%s: refused for another reason: %v", name, err)
		}
	}
}
