package web

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden pages in testdata/pages")

// goldenPages are the pages web renders, with data that reaches every branch of
// their templates that a person can see (errors, notices, required and optional
// scopes, grouped APIs).
func goldenPages() map[string]struct {
	page, title string
	data        any
} {
	when := time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)
	ask := []consentScope{
		{Name: "openid", Description: "Know who you are", Required: true},
		{Name: "email", Description: "See your email address"},
		{Name: "calendar.read", Description: "Read your calendar", Required: true, API: "Calendar API, calendar.example.com", APIFirst: true},
		{Name: "calendar.write", Description: "Change your calendar", API: "Calendar API, calendar.example.com"},
	}
	already := []consentScope{{Name: "profile", Description: "See your name"}, {Name: "phone", Description: "See your phone number"}}
	type page = struct {
		page, title string
		data        any
	}
	return map[string]page{
		"login":              {"login", "Sign in", loginData{Action: "/auth/login", AuthRequestID: "ar-1", FormToken: "tok", ClientName: "App", Username: "alice", Error: genericLoginError}},
		"login-account":      {"login", "Sign in", loginData{Action: "/auth/account/login", Account: true, FormToken: "tok", Next: PathAccount}},
		"totp":               {"totp", "Two-step sign-in", secondFactorData{AuthRequestID: "ar-1", FormToken: "tok", ClientName: "App", Error: genericCodeError}},
		"totp-account":       {"totp", "Two-step sign-in", secondFactorData{AuthRequestID: "ar-1", FormToken: "tok"}},
		"consent":            {"consent", "Allow access?", consentData{AuthRequestID: "ar-1", FormToken: "tok", ClientName: "App", ClientHost: "rp.test", UserName: "Alice", Ask: ask, Already: already}},
		"consent-error":      {"consent", "Allow access?", consentData{AuthRequestID: "ar-1", FormToken: "tok", ClientName: "App", ClientHost: "rp.test", UserName: "Alice", Ask: ask, Error: "Choose Allow or Deny."}},
		"device":             {"device", "Connect a device", deviceData{FormToken: "tok", UserCode: "BCDF-GHJK", Error: genericUserCodeError}},
		"device-consent":     {"device-consent", "Allow access?", consentData{AuthRequestID: "ar-1", FormToken: "tok", ClientName: "TV", UserName: "Alice", Ask: ask}},
		"device-consent-err": {"device-consent", "Allow access?", consentData{AuthRequestID: "ar-1", FormToken: "tok", ClientName: "TV", UserName: "Alice", Ask: ask, Error: "Choose Allow or Deny."}},
		"device-done":        {"device-done", "Device connected", deviceDoneData{Approved: true, ClientName: "TV"}},
		"device-denied":      {"device-done", "Device not connected", deviceDoneData{Message: "You denied the request. The device gets no access."}},
		"account-home":       {"account-home", "Your account", accountData{Name: "Alice", Username: "alice", Email: "alice@example.com", TOTP: true, FormToken: "tok", Notice: "Your other sessions are signed out.", Error: "Choose an app to remove.", Apps: []accountApp{{ClientID: "app", ClientName: "App", Scopes: already, CreatedAt: when, UpdatedAt: when.Add(48 * time.Hour)}}, Sessions: []accountSession{{SID: "s1", Current: true, Created: when, TwoStep: true}, {SID: "s2", Created: when}}}},
		"account-home-empty": {"account-home", "Your account", accountData{Username: "alice", FormToken: "tok"}},
		"account-enrol":      {"account-enrol", "Set up two-step sign-in", enrolData{Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/Signet:alice?secret=JBSWY3DPEHPK3PXP", QR: "data:image/png;base64,AA==", FormToken: "tok", AuthRequestID: "ar-1", ClientName: "App", Replacing: true, Notice: "n", Error: genericCodeError}},
		"account-recovery":   {"account-recovery", "Your recovery codes", recoveryData{Codes: []string{"0000-0000", "1111-1111"}, ContinueURL: "/auth/login?authRequestID=ar-1", ClientName: "App", Enrolled: true}},
		"account-manage":     {"account-manage", "Two-step sign-in", manageData{EnrolledAt: when, RecoveryLeft: 7, FormToken: "tok", PasswordAccepted: true, Required: true, ContinueURL: "/auth/login?authRequestID=ar-1", ClientName: "App", Notice: "n", Error: "e"}},
		"logout":             {"logout", "Sign out of Signet?", logoutData{Action: "/auth/end_session/confirm", FormToken: "tok", ClientID: "app", ClientName: "App", PostLogoutRedirectURI: "https://rp.test/out", State: "st", Username: "alice", OtherSignIn: true}},
		"logout-bad-return":  {"logout", "Sign out of Signet?", logoutData{Action: "/auth/end_session/confirm", FormToken: "tok", Username: "alice", BadReturn: true}},
		"signed-out":         {"signed_out", "Signed out", logoutSignedOutData{Ended: true}},
		"signed-out-nothing": {"signed_out", "No session to end", logoutSignedOutData{Named: true}},
		"still-signed-in":    {"still_signed_in", "Still signed in", nil},
		"error":              {"error", "Request refused", struct{ Message string }{"This form was sent from another site."}},
	}
}

// TestGoldenPages: every page renders byte for byte as in testdata/pages (ids,
// names, classes and text are what browsers, themes and the black-box checks
// rely on). Run with -update after a deliberate change.
func TestGoldenPages(t *testing.T) {
	t.Parallel()
	pages, err := Templates("", "https://signet.test/auth", "/auth", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range goldenPages() {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			pages.Render(w, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusOK, tc.page, tc.title, tc.data)
			if w.Code != http.StatusOK {
				t.Fatalf("render %s: %d %s", tc.page, w.Code, w.Body)
			}
			file := filepath.Join("testdata", "pages", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, w.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(w.Body.Bytes(), want) {
				t.Errorf("%s differs from %s:\n%s", tc.page, file, w.Body)
			}
		})
	}
}
