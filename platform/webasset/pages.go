package webasset

import (
	"fmt"
	"html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Pages parses every page of fsys's templates folder
// ("templates/<name>.html") together with the templates all pages share:
// "templates/layout.html" (the root each page is executed from) and the
// other shared files named ("forms.html"), with funcs available to all. The
// result is keyed by the page's name without ".html" ("orders").
func Pages(fsys fs.FS, funcs template.FuncMap, shared ...string) (map[string]*template.Template, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	files := []string{"templates/layout.html"}
	for _, s := range shared {
		files = append(files, "templates/"+s)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || slices.Contains(shared, base) {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(fsys, slices.Concat(files, []string{n})...)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", n, err)
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}
