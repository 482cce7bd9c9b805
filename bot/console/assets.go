package console

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
)

// assets holds the templates, the stylesheet and the script.
//
//go:embed assets
var assets embed.FS

// static are the files served under /console/static/ with their types.
var static = map[string]string{
	"console.css":  "text/css; charset=utf-8",
	"console.js":   "text/javascript; charset=utf-8",
	"insights.css": "text/css; charset=utf-8",
}

func parseTemplates() (*template.Template, error) {
	return template.ParseFS(assets, "assets/*.html")
}

func (c *Console) handleStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	typ, ok := static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := fs.ReadFile(assets, path.Join("assets", name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(data)
}
