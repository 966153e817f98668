package templates

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorPage: the error page comes with the pages' security headers, its
// status, no caching, and the message escaped.
func TestErrorPage(t *testing.T) {
	t.Parallel()
	p, err := New(Options{Issuer: "https://id.test", BasePath: "/auth"})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	p.ErrorPage(w, httptest.NewRequest(http.MethodGet, "/x", nil), http.StatusBadRequest, "Bad", "<b>no</b>")
	body := w.Body.String()
	if w.Code != http.StatusBadRequest || w.Header().Get("Cache-Control") != "no-store" ||
		!strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("status %d, headers %v", w.Code, w.Header())
	}
	if !strings.Contains(body, `id="error-message">&lt;b&gt;no&lt;/b&gt;`) || !strings.Contains(body, "id.test") ||
		!strings.Contains(body, `/auth/static/signet.css`) {
		t.Fatalf("body: %s", body)
	}
}

// TestThemeErrors: a missing theme directory, a broken template, or a theme
// that drops a required page fails New with a message naming it.
func TestThemeErrors(t *testing.T) {
	t.Parallel()
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "error.html"), []byte(`{{define "error"}}{{.Title}{{end}}`), 0o644)
	dropped := t.TempDir()
	os.WriteFile(filepath.Join(dropped, "error.html"), []byte(`{{define "oops"}}x{{end}}`), 0o644)
	for name, tc := range map[string]struct {
		o    Options
		want string
	}{
		"missing dir":      {Options{ThemeDir: filepath.Join(t.TempDir(), "nope")}, "theme directory"},
		"broken template":  {Options{ThemeDir: broken}, "error.html"},
		"dropped error":    {Options{ThemeDir: dropped}, `"error"`},
		"required missing": {Options{Required: map[string]any{"nowhere": nil}}, `"nowhere"`},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %s", name, err, tc.want)
		}
	}
}

// TestStatic serves the stylesheet and lists no directory.
func TestStatic(t *testing.T) {
	t.Parallel()
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /static/", p.Static())
	for path, want := range map[string]int{"/static/signet.css": http.StatusOK, "/static/": http.StatusNotFound} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}
