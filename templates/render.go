package templates

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
)

// Pages are the template files; each defines one or more pages and shares the
// layout.
var Pages = []string{"layout.html", "login.html", "error.html", "totp.html", "account.html", "logout.html", "consent.html", "device.html", "scopes.html"}

// Options configures a Renderer.
type Options struct {
	// ThemeDir, when set, holds templates (*.html) and static/ files that
	// replace the embedded ones of the same name.
	ThemeDir string
	// Issuer is the issuer URL; its host is shown on every page.
	Issuer string
	// BasePath is the issuer URL's path ("" or, say, "/auth"), which the
	// templates' {{path}} puts in front of every link to Signet.
	BasePath string
	// Required names the templates the consumers render, each with data shaped
	// like what they give it: a theme that drops one, or one that fails when
	// shown with it, fails start-up rather than a page later. "head", "foot"
	// and "error" are always required.
	Required map[string]any
	// Log receives template errors (nothing is logged when nil).
	Log *slog.Logger
}

// Renderer renders the pages, parsed once at start-up.
type Renderer struct {
	tmpl       *template.Template
	files      fs.FS
	issuerName string
	log        *slog.Logger
}

// Page is what every page template receives.
type Page struct {
	Title  string
	Issuer string
	Data   any
}

// Message is the data of the "error" page.
type Message struct{ Message string }

// New parses every page once. A missing theme directory, a broken template, or
// one that no longer defines a required page is an error naming the file.
func New(o Options) (*Renderer, error) {
	fsys, err := pagesFS(o.ThemeDir)
	if err != nil {
		return nil, err
	}
	required := map[string]any{"head": nil, "foot": nil, "error": Message{}}
	maps.Copy(required, o.Required)
	t, err := parsePages(fsys, o.ThemeDir, o.BasePath, required)
	if err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Renderer{
		tmpl: t, files: fsys, log: o.Log,
		issuerName: strings.TrimPrefix(strings.TrimPrefix(o.Issuer, "https://"), "http://"),
	}, nil
}

// Render executes a page into a buffer first, so a template error is a clean 500
// and never half a page.
func (p *Renderer) Render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, Page{Title: title, Issuer: p.issuerName, Data: data}); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "error", err)
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// ErrorPage shows an error that must not be redirected anywhere, with the
// pages' security headers (the protocol endpoints that show it set laxer ones).
func (p *Renderer) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	SecurityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.Render(w, r, status, "error", title, Message{Message: message})
	})).ServeHTTP(w, r)
}

// Static serves the static files (embedded, or themed) under /static/, and not
// their directories: opening one is "not found", so /static/ lists nothing.
func (p *Renderer) Static() http.Handler {
	return SecurityHeaders(http.FileServerFS(filesOnly{p.files}))
}

// SecurityHeaders sets the headers every page carries: a strict CSP with no inline
// script, no framing, no sniffing, no referrer.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

type filesOnly struct{ fs.FS }

func (f filesOnly) Open(name string) (fs.File, error) {
	file, err := f.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err != nil || st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return file, nil
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
		return FS, nil
	}
	st, err := os.Stat(themeDir)
	if err != nil {
		return nil, fmt.Errorf("theme directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("theme directory %s is not a directory", themeDir)
	}
	return overlayFS{theme: os.DirFS(themeDir), base: FS}, nil
}

// parsePages parses every page once and checks the required ones.
//
// Templates write every link to Signet itself as {{path "/account"}}: path puts
// basePath (the issuer's path, "" for none) in front, so the same templates work
// whether Signet is served at the root or under a path.
func parsePages(fsys fs.FS, themeDir, basePath string, required map[string]any) (*template.Template, error) {
	t := template.New("").Funcs(template.FuncMap{
		"path": func(p string) string { return basePath + p },
	})
	for _, name := range Pages {
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
	for _, name := range slices.Sorted(maps.Keys(required)) {
		if t.Lookup(name) == nil {
			return nil, fmt.Errorf("templates: no template defines %q (a theme's file must keep every {{define}} of the file it replaces)", name)
		}
		if name == "head" || name == "foot" {
			continue // shown by every page
		}
		err := t.ExecuteTemplate(io.Discard, name, Page{Title: "Check", Issuer: "Signet", Data: required[name]})
		if err != nil {
			return nil, fmt.Errorf("templates: %q fails when shown: %w", name, err)
		}
	}
	return t, nil
}
