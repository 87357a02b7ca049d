package auth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Metadata is a hub's OAuth 2.0 protected resource metadata (RFC 9728), as
// draft-08 asks hubs to publish it: mount it at MetadataPath (for the hub
// URL /.well-known/mercure, "/.well-known/oauth-protected-resource/.well-known/mercure").
// Clients learn from it the resource identifier to put in a token's "aud",
// the authorization servers that issue tokens, and how to present them.
type Metadata struct {
	// Resource is the hub's resource identifier (the audience of its
	// tokens). Default: the hub URL derived from the request (this
	// document's URL without the well-known prefix).
	Resource string
	// AuthorizationServers are the issuer identifiers of the authorization
	// servers that issue tokens for the hub; omitted when tokens are
	// self-issued.
	AuthorizationServers []string
	// JWKSURI is where the hub's verification keys are published, if they
	// are not obtained from an authorization server.
	JWKSURI string
	// Cookie advertises that the hub accepts the token in a cookie
	// ("mercure_cookie").
	Cookie bool
	// Subscriptions advertises the active subscriptions feature
	// ("mercure_subscriptions").
	Subscriptions bool
}

// MetadataPath returns the path at which the metadata of the hub whose URL
// path is hubPath is served (RFC 9728 §3.1).
func MetadataPath(hubPath string) string {
	if hubPath == "" || hubPath == "/" {
		return metadataPrefix
	}
	return metadataPrefix + hubPath
}

type metadataDoc struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	JWKSURI              string   `json:"jwks_uri,omitempty"`
	BearerMethods        []string `json:"bearer_methods_supported"`
	DetailTypes          []string `json:"authorization_details_types_supported"`
	MatcherTypes         []string `json:"mercure_matcher_types_supported"`
	Cookie               bool     `json:"mercure_cookie,omitempty"`
	Subscriptions        bool     `json:"mercure_subscriptions,omitempty"`
}

// ServeHTTP serves the metadata document as JSON.
func (m Metadata) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	res := m.Resource
	if res == "" {
		hubPath := strings.TrimPrefix(r.URL.Path, metadataPrefix)
		if hubPath == "" {
			hubPath = "/"
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		res = scheme + "://" + r.Host + hubPath
	}
	doc := metadataDoc{
		Resource:             res,
		AuthorizationServers: m.AuthorizationServers,
		JWKSURI:              m.JWKSURI,
		// The RFC 6750 methods this hub accepts; the query method is not
		// one of them. The cookie is a Mercure extension, advertised apart.
		BearerMethods: []string{"header"},
		DetailTypes:   []string{DetailType},
		MatcherTypes:  []string{"exact", "urlpattern"},
		Cookie:        m.Cookie,
		Subscriptions: m.Subscriptions,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		http.Error(w, "cannot encode metadata", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	// A public document: any origin may read it (no credentials involved).
	h.Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(append(b, '\n'))
	}
}
