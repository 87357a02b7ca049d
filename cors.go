package herald

import (
	"net/http"
	"net/url"
	"strings"
)

// setCORS answers a cross-origin request from an allowed origin. An origin
// is echoed back only when it is on the list; "*" on the list allows any
// origin but never with credentials.
func (h *Hub) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" || len(h.cfg.corsOrigins) == 0 {
		return
	}
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	switch {
	case listed(h.cfg.corsOrigins, origin):
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
	case listed(h.cfg.corsOrigins, "*"):
		hdr.Set("Access-Control-Allow-Origin", "*")
	default:
		return
	}
	hdr.Set("Access-Control-Expose-Headers", "Last-Event-ID, Mercure-Last-Event-ID, WWW-Authenticate")
}

func (h *Hub) servePreflight(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	if hdr.Get("Access-Control-Allow-Origin") != "" {
		hdr.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", "Authorization, Cache-Control, Content-Type, Last-Event-ID")
		hdr.Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

func listed(list []string, origin string) bool {
	for _, o := range list {
		if o == origin {
			return true
		}
	}
	return false
}

// originAllowed is the CSRF check for a publish authorized by a cookie:
// its Origin (or, failing that, its Referer's origin) must be the hub's own
// origin or one of the publish origins — or, when no publish origin is
// set, one of the CORS origins. "*" never matches here: a cookie must not
// let every site on the Web publish in the victim's name. A request with
// neither header is refused (draft-08 security considerations).
func (h *Hub) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	if self := originOf(h.hubURL(r)); self != "" && strings.EqualFold(self, origin) {
		return true
	}
	list := h.cfg.publishOrigins
	if len(list) == 0 {
		list = h.cfg.corsOrigins
	}
	for _, o := range list {
		if o != "*" && strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// originOf returns the scheme://host[:port] of an absolute URL.
func originOf(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme == "" || pu.Host == "" {
		return ""
	}
	return pu.Scheme + "://" + pu.Host
}
