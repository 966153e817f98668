package web

import (
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path"

	"github.com/signet-idp/signet/templates"
)

// requiredTemplates are the templates the handlers render; a theme that drops one
// fails start-up rather than a page later.
var requiredTemplates = []string{
	"head", "foot", "login", "error", "consent", "account-home",
	"account-enrol", "account-recovery", "account-manage", "logout", "signed_out", "still_signed_in",
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
func parsePages(fsys fs.FS, themeDir string) (*template.Template, error) {
	t := template.New("")
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
	for _, name := range requiredTemplates {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("templates: no template defines %q (a theme's file must keep every {{define}} of the file it replaces)", name)
		}
	}
	return t, nil
}
