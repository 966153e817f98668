package web

import (
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"

	"github.com/signet-idp/signet/templates"
)

// requiredTemplates are the templates the handlers render, each with data of the
// type its handler gives it, shaped like the real thing (lists with elements, so
// that loops run; a secret and codes as long as real ones). A
// theme that drops one, or one that fails when shown with its data (a field
// that does not exist), fails start-up rather than a page later.
var requiredTemplates = map[string]any{
	"head": nil, "foot": nil,
	"login":            loginData{},
	"totp":             secondFactorData{},
	"error":            errorData{},
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

// overlayFS serves a file from the theme directory when it has one, and from the
// embedded templates otherwise.
type overlayFS struct {
	theme fs.FS
	base  fs.FS
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if o.theme != nil {
		f, err := o.theme.Open(name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return o.base.Open(name)
}

// CheckTheme loads a theme directory as the server would at start and reports
// what would stop it (for `signet config check`).
func CheckTheme(themeDir string) error {
	fsys, err := pagesFS(themeDir)
	if err != nil {
		return err
	}
	_, err = parsePages(fsys, themeDir, "")
	return err
}

// pagesFS returns the file system pages and static files come from: the embedded
// ones, overridden file by file by themeDir when it is set.
func pagesFS(themeDir string) (fs.FS, error) {
	if themeDir == "" {
		return templates.FS, nil
	}
	st, err := os.Stat(themeDir)
	if err != nil {
		return nil, fmt.Errorf("theme directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("theme directory %s is not a directory", themeDir)
	}
	return overlayFS{theme: os.DirFS(themeDir), base: templates.FS}, nil
}

// parsePages parses every page once. A theme's broken template, or one that no
// longer defines a page the handlers render, is an error naming the file.
//
// Templates write every link to Signet itself as {{path "/account"}}: path puts
// basePath (the issuer's path, "" for none) in front, so the same templates work
// whether Signet is served at the root or under a path.
func parsePages(fsys fs.FS, themeDir, basePath string) (*template.Template, error) {
	t := template.New("").Funcs(template.FuncMap{
		"path": func(p string) string { return basePath + p },
	})
	for _, name := range pages {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		if _, err := t.New(name).Parse(string(b)); err != nil {
			where := "embedded"
			if themeDir != "" {
				if _, statErr := os.Stat(path.Join(themeDir, name)); statErr == nil {
					where = path.Join(themeDir, name)
				}
			}
			return nil, fmt.Errorf("template %s (%s): %w", name, where, err)
		}
	}
	// In order, so that of several broken templates the same one is named.
	for _, name := range slices.Sorted(maps.Keys(requiredTemplates)) {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("templates: no template defines %q (a theme's file must keep every {{define}} of the file it replaces)", name)
		}
		if name == "head" || name == "foot" {
			continue // shown by every page
		}
		err := t.ExecuteTemplate(io.Discard, name, pageData{Title: "Check", Issuer: "Signet", Data: requiredTemplates[name]})
		if err != nil {
			return nil, fmt.Errorf("templates: %q fails when shown: %w", name, err)
		}
	}
	return t, nil
}
