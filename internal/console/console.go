// Package console is tokend's web console: static files (HTML, CSS and
// plain ES modules, no build step) embedded in the binary and served under
// /console/. The console is a client of tokend's JSON:API like any other:
// it signs in with a token held in the page's memory only and calls the
// same endpoints, with the same documents, as a dashboard backend.
//
// Every file is served with a Content-Security-Policy that allows no
// inline script or style and no framing, and with an ETag so that a
// browser revalidates it cheaply; no file holds a token or anything
// personal.
package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy every console file is served with:
// scripts, styles, images and requests from tokend's own origin only, no
// inline script or style, no <base>, no form submission (forms are handled
// by script, so a form can never send a token anywhere), and no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// contentTypes are the types of the files served, fixed here rather than
// read from the system's MIME tables, which differ between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// file is one embedded file, read once.
type file struct {
	body        []byte
	etag        string
	contentType string
}

// Files serves the console's files.
type Files struct {
	files map[string]file
}

// New returns the console's files, read from the binary once.
func New() *Files { return files() }

var files = sync.OnceValue(func() *Files {
	f := &Files{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("%s: no content type for its extension", p)
		}
		f.files[strings.TrimPrefix(p, "static/")] = file{
			body:        body,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`,
			contentType: ct,
		}
		return nil
	})
	if err != nil {
		panic("console: " + err.Error()) // the files are part of the binary
	}
	return f
})

// Names returns the names of the files served, such as "index.html" and
// "js/app.js".
func (f *Files) Names() []string {
	names := make([]string, 0, len(f.files))
	for n := range f.files {
		names = append(names, n)
	}
	return names
}

// Body returns the content of the named file, or nil when there is none.
func (f *Files) Body(name string) []byte { return f.files[name].body }

// Serve writes the named file (a path below /console/; "" is the index) as
// the answer to r, with the console's security headers, and reports whether
// there is such a file. A request whose If-None-Match holds the file's ETag
// gets 304. Files may be kept by a browser but are revalidated before each
// use, so a new tokend's console is never mixed with an old one's.
func (f *Files) Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	file, ok := f.files[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Type", file.contentType)
	h.Set("ETag", file.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(file.body))
	return true
}
