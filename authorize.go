package herald

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldpush/herald/topic"
)

// Claims is what a verified token allows its bearer.
type Claims struct {
	// Subject identifies the bearer (the JWT "sub"), when the token has one.
	Subject string

	// Publish lists the topic selectors the bearer may publish to. An
	// update is accepted only when every one of its topics matches.
	Publish []topic.Selector

	// Subscribe lists the topic selectors whose private updates the bearer
	// may receive.
	Subscribe []topic.Selector

	// Payload is the draft-07 token's opaque payload (mercure.payload),
	// exposed in subscription events for every subscription.
	Payload json.RawMessage

	// Payloads lists, in token order, the subscribe authorization details
	// of a draft-08 token with their payloads. A subscription's payload is
	// that of the first detail whose selectors match the subscription's own
	// matcher text.
	Payloads []ScopedPayload

	// Expires is when the token stops being valid; a subscriber's stream
	// ends then. Zero means no expiry.
	Expires time.Time

	// Draft is the Mercure revision whose token format was presented: 7
	// (the "mercure" claim) or 8 (an RFC 9068 access token with
	// authorization_details).
	Draft int

	// FromCookie reports that the token came from a cookie, so a publish
	// must pass the CSRF origin check.
	FromCookie bool
}

// A ScopedPayload is the payload of one draft-08 subscribe authorization
// detail and the selectors the detail grants.
type ScopedPayload struct {
	// Selectors are the topic selectors the detail grants.
	Selectors []topic.Selector
	// Payload is a JSON object, or nil when the detail has none.
	Payload json.RawMessage
}

// payloadFor returns the payload a subscription whose matcher text is expr
// carries: the draft-07 token-wide payload, or the payload of the first
// draft-08 subscribe detail that matches expr as if it were a topic.
func (c *Claims) payloadFor(cache *topic.Cache, expr string) json.RawMessage {
	if c == nil {
		return nil
	}
	if c.Draft != 8 {
		return c.Payload
	}
	for _, sp := range c.Payloads {
		for _, s := range sp.Selectors {
			if cache.Match(s, expr) {
				return sp.Payload
			}
		}
	}
	return nil
}

// An Action is what a request asks the hub to do.
type Action uint8

// Actions.
const (
	ActionSubscribe Action = iota + 1
	ActionPublish
)

// String returns "subscribe" or "publish".
func (a Action) String() string {
	switch a {
	case ActionSubscribe:
		return "subscribe"
	case ActionPublish:
		return "publish"
	}
	return "unknown"
}

// An Authorizer verifies the token a request carries.
//
// Authorize returns the bearer's claims for action, or nil claims and a nil
// error when the request carries no token at all. A token that is present
// but not valid is an error, preferably an *AuthError so that the hub
// answers with the right status and WWW-Authenticate challenge. Mercure
// hubs may verify publishers' and subscribers' tokens with different keys,
// hence the action.
type Authorizer interface {
	Authorize(r *http.Request, action Action) (*Claims, error)
}

// AuthorizerFunc adapts a function to the Authorizer interface.
type AuthorizerFunc func(r *http.Request, action Action) (*Claims, error)

// Authorize calls f(r, action).
func (f AuthorizerFunc) Authorize(r *http.Request, action Action) (*Claims, error) {
	return f(r, action)
}

// An AuthError is an authorization failure with its RFC 6750 error code.
type AuthError struct {
	// Status is the HTTP status: 401 for a missing or invalid token, 403
	// for a valid token that does not allow the request.
	Status int
	// Code is the RFC 6750 error code: "invalid_request", "invalid_token"
	// or "insufficient_scope"; empty when no token was presented.
	Code string
	// Description is a human-readable reason, safe to show the client.
	Description string
	// Err is the underlying cause, if any; never shown to the client.
	Err error
}

// Error describes the refusal: status, description, code and cause.
func (e *AuthError) Error() string {
	msg := fmt.Sprintf("herald: %d %s", e.Status, e.Description)
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause, Err.
func (e *AuthError) Unwrap() error { return e.Err }

// allowsAll reports whether every topic matches one of sels.
func allowsAll(c *topic.Cache, sels []topic.Selector, topics []string) bool {
	for _, t := range topics {
		if !allowsOne(c, sels, t) {
			return false
		}
	}
	return true
}

// allowsAny reports whether some topic matches one of sels.
func allowsAny(c *topic.Cache, sels []topic.Selector, topics []string) bool {
	for _, t := range topics {
		if allowsOne(c, sels, t) {
			return true
		}
	}
	return false
}

func allowsOne(c *topic.Cache, sels []topic.Selector, t string) bool {
	for _, s := range sels {
		if c.Match(s, t) {
			return true
		}
	}
	return false
}
