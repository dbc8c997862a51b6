package rest

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// routeKey holds the request's *routeLabel.
type routeKey struct{}

// routeLabel names what served a request by its template, never its raw
// path, so metrics keep a bounded number of series and logs name no ids.
type routeLabel struct {
	api, route string
}

// labelRoute returns next, recording api and route as the request's
// template when it runs.
func labelRoute(apiName, route string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if l, ok := r.Context().Value(routeKey{}).(*routeLabel); ok {
			l.api, l.route = apiName, route
		}
		next(w, r)
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// observe logs one line per request (method, route template, status,
// duration, request id, node; never the path's ids, tokens or bodies) and
// feeds the HTTP metrics.
func (s *Server) observe(next http.Handler) http.Handler {
	node := ""
	if s.node != nil {
		node = s.node.ID()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		label := &routeLabel{api: "none", route: "unmatched"}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), routeKey{}, label)))
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		s.cfg.Metrics.ObserveHTTP(label.api, label.route, r.Method, sw.status, d)
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", slog.String("method", r.Method),
				slog.String("api", label.api), slog.String("route", label.route), slog.Int("status", sw.status),
				slog.Float64("ms", float64(d.Microseconds())/1000), slog.String("requestId", w.Header().Get("X-Request-Id")),
				slog.String("node", node))
		}
	})
}

// oidcRoutes are the templates of /oidc, for labels.
var oidcRoutes = []string{"/.well-known/openid-configuration", "/authorize", "/oauth/token", "/revoke", "/end_session",
	"/keys", "/logged-out", "/login/totp", "/login/totp/enroll", "/login/totp/enroll/verify"}

// oidcRoute is the template of a path under OIDCBase (relative to it).
func oidcRoute(p string) string {
	for _, t := range oidcRoutes {
		if p == t {
			return OIDCBase + t
		}
	}
	if rest, ok := strings.CutPrefix(p, "/login/"); ok && !strings.Contains(rest, "/") {
		return OIDCBase + "/login/{method}"
	}
	return "unmatched"
}

// serveMetrics answers the Prometheus scrape, to anyone when no scrape
// certificate is configured, else only to a client presenting one of them.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if len(s.cfg.ScrapeCerts) > 0 {
		leaf, allowed := leafOf(r), false
		for _, c := range s.cfg.ScrapeCerts {
			if leaf != nil && subtle.ConstantTimeCompare([]byte(pki.Fingerprint(leaf)), []byte(pki.Fingerprint(c))) == 1 {
				allowed = true
			}
		}
		if !allowed {
			api.WriteError(w, r, api.Unauthorized())
			return
		}
	}
	s.cfg.Metrics.Handler().ServeHTTP(w, r)
}
