package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/kvdlabs/kvd/theme"
)

//go:embed assets
var assets embed.FS

// ErrUnauthorized is what Authorize returns for a request without valid
// credentials: the page answers 401 with a Basic challenge, so a browser
// asks for a user and password.
var ErrUnauthorized = errors.New("dashboard: a user and password are required")

// Config wires a dashboard Handler.
type Config struct {
	// Poller supplies the views; required.
	Poller *Poller
	// Source answers member.json; required.
	Source Source
	// Authorize decides whether a request may see the cluster view
	// (the page, state.json and the event stream); nil lets everyone.
	// member.json is not asked: it holds what /metrics serves.
	Authorize func(*http.Request) error
	// Context bounds the poller and every event stream (the member's
	// lifetime).
	Context context.Context
	// KeepAlive is how often an idle event stream gets a comment line, so
	// proxies do not close it; default 15 s.
	KeepAlive time.Duration
}

// Handler serves the dashboard under /dashboard: the page (/dashboard),
// its script and stylesheet, member.json (this member's figures),
// state.json (the newest cluster view) and events (the views as
// server-sent events).
func Handler(cfg Config) http.Handler {
	if cfg.Poller == nil || cfg.Source == nil || cfg.Context == nil {
		panic("dashboard: Handler needs a Poller, a Source and a Context")
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	mux := http.NewServeMux()
	page := func(name, contentType string) http.HandlerFunc {
		body, err := assets.ReadFile("assets/" + name)
		if err != nil {
			panic(err) // embedded at build time
		}
		return cfg.authorized(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "no-cache")
			w.Write(body)
		})
	}
	mux.HandleFunc("GET /dashboard", page("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /dashboard/{$}", page("index.html", "text/html; charset=utf-8"))
	mux.HandleFunc("GET /dashboard/app.js", page("app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /dashboard/theme.css", cfg.authorized(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write([]byte(theme.CSS))
	}))
	mux.HandleFunc("GET /dashboard/member.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(cfg.Source.Self())
	})
	mux.HandleFunc("GET /dashboard/state.json", cfg.authorized(func(w http.ResponseWriter, r *http.Request) {
		cfg.Poller.Start(cfg.Context)
		w.Header().Set("Content-Type", "application/json")
		w.Write(cfg.Poller.Latest())
	}))
	mux.HandleFunc("GET /dashboard/events", cfg.authorized(cfg.serveEvents))
	return mux
}

func (cfg Config) authorized(h http.HandlerFunc) http.HandlerFunc {
	if cfg.Authorize == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if err := cfg.Authorize(r); err != nil {
			if errors.Is(err, ErrUnauthorized) {
				w.Header().Set("WWW-Authenticate", `Basic realm="kvd dashboard", charset="UTF-8"`)
				http.Error(w, err.Error(), http.StatusUnauthorized)
				return
			}
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		h(w, r)
	}
}

// serveEvents streams every new view as a server-sent event ("view"),
// starting with the newest, until the client leaves or the member stops.
func (cfg Config) serveEvents(w http.ResponseWriter, r *http.Request) {
	cfg.Poller.Start(cfg.Context)
	rc := http.NewResponseController(w)
	views, cancel := cfg.Poller.Subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(b []byte) bool {
		if _, err := w.Write([]byte("event: view\ndata: ")); err != nil {
			return false
		}
		w.Write(b) // JSON holds no newline
		if _, err := w.Write([]byte("\n\n")); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The browser reconnects after retry ms if the stream breaks.
	w.Write([]byte("retry: 1000\n\n"))
	if b := cfg.Poller.Latest(); b != nil && !send(b) {
		return
	}
	keepAlive := time.NewTicker(cfg.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-cfg.Context.Done():
			return
		case b, ok := <-views:
			if !ok || !send(b) {
				return
			}
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}
