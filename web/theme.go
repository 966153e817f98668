package web

import (
	"log/slog"

	"github.com/signet-idp/signet/templates"
)

// requiredTemplates are the templates the handlers render, each with data of the
// type its handler gives it, shaped like the real thing (lists with elements, so
// that loops run; a secret and codes as long as real ones). A
// theme that drops one, or one that fails when shown with its data (a field
// that does not exist), fails start-up rather than a page later.
var requiredTemplates = map[string]any{
	"login":            loginData{},
	"totp":             secondFactorData{},
	"error":            templates.Message{},
	"consent":          consentData{Ask: []consentScope{{}}, Already: []consentScope{{}}},
	"device":           deviceData{},
	"device-consent":   consentData{Ask: []consentScope{{}}},
	"device-done":      deviceDoneData{Approved: true},
	"account-home":     accountData{Apps: []accountApp{{Scopes: []consentScope{{}}}}, Sessions: []accountSession{{}}},
	"account-enrol":    enrolData{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", URI: "otpauth://totp/Signet:alice?secret=JBSWY3DPEHPK3PXP", QR: "data:image/png;base64,AA=="},
	"account-recovery": recoveryData{Codes: []string{"0000-0000", "1111-1111", "2222-2222", "3333-3333", "4444-4444", "5555-5555", "6666-6666", "7777-7777", "8888-8888", "9999-9999"}},
	"account-manage":   manageData{},
	"logout":           logoutData{},
	"signed_out":       logoutSignedOutData{},
	"still_signed_in":  nil,
}

// Templates parses the pages (the embedded ones, or themeDir's over them) and
// checks that every page web renders is there and can be shown: main builds the
// one Renderer that web and provider share with it.
func Templates(themeDir, issuer, basePath string, log *slog.Logger) (*templates.Renderer, error) {
	return templates.New(templates.Options{ThemeDir: themeDir, Issuer: issuer, BasePath: basePath, Required: requiredTemplates, Log: log})
}

// CheckTheme loads a theme directory as the server would at start and reports
// what would stop it (for `signet config check`).
func CheckTheme(themeDir string) error {
	_, err := Templates(themeDir, "", "", nil)
	return err
}
