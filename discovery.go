package herald

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Names both Mercure revisions fix.
const (
	// DefaultHubPath is the well-known path of a Mercure hub.
	DefaultHubPath = "/.well-known/mercure"
	// CookieName07 is the draft-07 authorization cookie.
	CookieName07 = "mercureAuthorization"
	// CookieName08 is the draft-08 access-token cookie; its __Secure-
	// prefix makes browsers keep it to HTTPS.
	CookieName08 = "__Secure-mercure_access_token"
)

// RequestHubURL returns the URL a request reached the hub at, for hubs
// that were not told their public URL: the scheme of the connection (https
// when it is TLS), the Host header, and the hub's path — the request path
// up to and including "/.well-known/mercure", or the whole path when it
// does not contain it. Behind a proxy that terminates TLS this says http;
// configure the hub URL there (WithHubURL).
func RequestHubURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + hubPathOf(r.URL.Path)
}

// hubPathOf cuts a request path back to the hub's path.
func hubPathOf(p string) string {
	if i := strings.Index(p, DefaultHubPath); i >= 0 {
		end := i + len(DefaultHubPath)
		if end == len(p) || p[end] == '/' {
			return p[:end]
		}
	}
	if i := strings.LastIndex(p, "/subscriptions"); i >= 0 {
		return p[:i]
	}
	return p
}

// ResourceMetadataURL returns the URL of the RFC 9728 protected-resource
// metadata of the hub at hubURL: the well-known prefix
// "/.well-known/oauth-protected-resource" inserted between the origin and
// the path.
func ResourceMetadataURL(hubURL string) string {
	u, err := url.Parse(hubURL)
	if err != nil || u.Host == "" {
		return ""
	}
	path := u.EscapedPath()
	if path == "/" {
		path = ""
	}
	return u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource" + path
}

// Discovery advertises a hub on an application's responses, as both
// Mercure revisions describe: a Link header with rel="mercure" naming the
// hub, and, when asked, the authorization cookie a browser's EventSource
// will present to the hub.
//
// The application and the hub must share a registrable domain for the
// cookie to reach the hub; set CookieDomain to the parent domain when they
// are on different subdomains.
type Discovery struct {
	// HubURL is the hub's public URL, e.g.
	// "https://example.com/.well-known/mercure". Required.
	HubURL string

	// CookieName is the cookie SetCookie sets; default CookieName07 (the
	// draft-07 name the reference hub and its clients use). Use
	// CookieName08 for draft-08 access tokens.
	CookieName string
	// CookieDomain is the cookie's Domain attribute; empty means the host
	// that answered.
	CookieDomain string
	// CookiePath is the cookie's Path; default the hub URL's path, so
	// that the cookie is sent only to the hub.
	CookiePath string
	// SameSite is the cookie's SameSite attribute; default Strict. Lax
	// is needed only when the page that subscribes is reached by a
	// cross-site navigation and subscribes at once.
	SameSite http.SameSite
	// Insecure drops the Secure attribute, for local development over
	// plain http only. The draft-08 __Secure- cookie is always Secure.
	Insecure bool
}

// A LinkAttribute adds a target attribute to the hub's Link header.
type LinkAttribute func(*strings.Builder)

// WithLastEventID adds the last-event-id attribute: the id of the last
// update the application knew of when it generated the response. The
// subscriber passes it back to the hub (lastEventID / last_event_id query
// parameter) so that updates published in between are not lost.
func WithLastEventID(id string) LinkAttribute {
	return func(b *strings.Builder) { writeLinkParam(b, "last-event-id", id) }
}

// WithContentType adds the content-type attribute: the media type of the
// updates the hub pushes, when it differs from the resource's (a JSON
// Patch, say).
func WithContentType(ct string) LinkAttribute {
	return func(b *strings.Builder) { writeLinkParam(b, "content-type", ct) }
}

func writeLinkParam(b *strings.Builder, name, value string) {
	b.WriteString("; ")
	b.WriteString(name)
	b.WriteString(`="`)
	for _, r := range value {
		// A quoted-string may not hold control characters; escape quotes
		// and backslashes (RFC 9110 §5.6.4).
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// Link returns the value of the hub's Link header.
func (d Discovery) Link(attrs ...LinkAttribute) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(d.HubURL)
	b.WriteString(`>; rel="mercure"`)
	for _, a := range attrs {
		a(&b)
	}
	return b.String()
}

// SetLink adds the hub's Link header to w. Call it before the response's
// header is written.
func (d Discovery) SetLink(w http.ResponseWriter, attrs ...LinkAttribute) {
	w.Header().Add("Link", d.Link(attrs...))
}

// Handler wraps next so that every response it sends advertises the hub.
func (d Discovery) Handler(next http.Handler) http.Handler {
	link := d.Link()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Link", link)
		next.ServeHTTP(w, r)
	})
}

// SetCookie sets the authorization cookie holding token on w, to expire
// with the token at expires (zero: a session cookie). The cookie is
// HttpOnly, so that scripts cannot read the token, Secure unless Insecure,
// and SameSite Strict unless told otherwise.
func (d Discovery) SetCookie(w http.ResponseWriter, token string, expires time.Time) error {
	c, err := d.cookie(token)
	if err != nil {
		return err
	}
	if !expires.IsZero() {
		c.Expires = expires
		c.MaxAge = int(time.Until(expires).Seconds())
		if c.MaxAge <= 0 {
			return errors.New("herald: the token has already expired")
		}
	}
	http.SetCookie(w, c)
	return nil
}

// ClearCookie removes the authorization cookie (at logout).
func (d Discovery) ClearCookie(w http.ResponseWriter) error {
	c, err := d.cookie("")
	if err != nil {
		return err
	}
	c.MaxAge = -1
	http.SetCookie(w, c)
	return nil
}

func (d Discovery) cookie(token string) (*http.Cookie, error) {
	u, err := url.Parse(d.HubURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("herald: Discovery.HubURL must be an absolute URL")
	}
	name := d.CookieName
	if name == "" {
		name = CookieName07
	}
	path := d.CookiePath
	if path == "" {
		path = u.Path
		if path == "" {
			path = "/"
		}
	}
	sameSite := d.SameSite
	if sameSite == 0 || sameSite == http.SameSiteDefaultMode {
		sameSite = http.SameSiteStrictMode
	}
	c := &http.Cookie{
		Name:     name,
		Value:    token,
		Domain:   d.CookieDomain,
		Path:     path,
		HttpOnly: true,
		Secure:   !d.Insecure || strings.HasPrefix(name, "__Secure-") || strings.HasPrefix(name, "__Host-"),
		SameSite: sameSite,
	}
	if err := c.Valid(); err != nil {
		return nil, err
	}
	return c, nil
}
