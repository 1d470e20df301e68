// Package webasset serves a service's static files (style sheets, icons)
// from an embedded file system: exact files only (no directory listing, a
// 404 for any other path), a strong ETag, and URLs that carry the content's
// hash so that browsers may keep a file for a year and still see a new
// version at once. Pages must not carry inline styles or scripts (the
// gateway's Content-Security-Policy is default-src 'self'), so every style
// lives in a file served from here.
//
// Every set also serves the files the services share (shared/ here): the
// Fabrika icon, favicon.svg, and the back office's common look,
// backoffice.css, which the CRM's and the B2B administration's layouts link
// before their own style.css. A service's own file of the same name wins.
package webasset

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
)

//go:embed shared
var shared embed.FS

// Set is the files of one directory, read once at start.
type Set struct {
	prefix   string
	files    map[string]file
	notFound http.Handler
}

type file struct {
	body  []byte
	etag  string
	ctype string
}

// New reads every regular file directly in fsys's root, and the shared
// files it has no file of the same name for; prefix is the URL path they
// are served under ("/crm/static/"). notFound answers any other path below
// prefix (nil: a plain 404).
func New(fsys fs.FS, prefix string, notFound http.Handler) (*Set, error) {
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") {
		return nil, fmt.Errorf("webasset: prefix %q must start and end with /", prefix)
	}
	s := &Set{prefix: prefix, files: map[string]file{}, notFound: notFound}
	if s.notFound == nil {
		s.notFound = http.NotFoundHandler()
	}
	common, err := fs.Sub(shared, "shared")
	if err != nil {
		return nil, err
	}
	if err := s.read(fsys); err != nil {
		return nil, err
	}
	if err := s.read(common); err != nil {
		return nil, err
	}
	return s, nil
}

// read adds the regular files of fsys's root that the set does not have yet.
func (s *Set) read(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("webasset: read assets: %w", err)
	}
	for _, e := range entries {
		if _, ok := s.files[e.Name()]; ok || !e.Type().IsRegular() {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return fmt.Errorf("webasset: read %s: %w", e.Name(), err)
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(e.Name()))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		s.files[e.Name()] = file{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: ctype}
	}
	return nil
}

// URL is the path of a file with its version, for templates; it panics on
// a name that is not in the set, so that a typo fails every page test.
func (s *Set) URL(name string) string {
	f, ok := s.files[name]
	if !ok {
		panic("webasset: no asset " + name)
	}
	return s.prefix + name + "?v=" + strings.Trim(f.etag, `"`)
}

// ServeHTTP serves GET and HEAD of the set's files.
func (s *Set) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	f, found := s.files[name]
	if !ok || !found {
		s.notFound.ServeHTTP(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("ETag", f.etag)
	if r.URL.Query().Get("v") == strings.Trim(f.etag, `"`) {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=300")
	}
	// ServeContent answers If-None-Match with 304 and serves ranges.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// inline matches what a Content-Security-Policy of default-src 'self'
// blocks in a page: style elements and attributes, scripts written in the
// page, and event handler attributes.
var inline = regexp.MustCompile(`(?i)<style|\sstyle=|<script(?:\s[^>]*)?>[^<]|\son[a-z]+=`)

// Inline returns the first inline style or script of an HTML page ("" when
// it has none), for the tests of every service's pages.
func Inline(page string) string { return inline.FindString(page) }
