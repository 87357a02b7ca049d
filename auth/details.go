package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/topic"
)

// Authorization detail types (RFC 9396 "type") that carry Mercure grants.
// Draft-08 names the type "mercure"; earlier revisions of the draft and the
// reference hub's conformance suite use the URL form. Both are accepted;
// minted tokens use DetailType.
const (
	DetailType    = "mercure"
	DetailTypeURL = "https://mercure.rocks/authorization-detail"
)

// Limits on the draft-08 authorization_details claim. A token over a limit
// is an invalid token (401), as the draft requires.
const (
	DefaultMaxDetails = 100 // mercure authorization details per token
	DefaultMaxMatches = 100 // topic matchers summed over all mercure details
)

// parseDetails reads the draft-08 authorization_details claim into c. Any
// mercure detail that does not validate rejects the whole token: acting on
// the other entries would silently change what the token grants. Details
// of other types belong to other resources and are skipped.
func parseDetails(raw any, p topic.Parser, maxDetails, maxMatches int, c *herald.Claims) error {
	if raw == nil {
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		return errors.New("authorization_details is not an array")
	}
	details, matches := 0, 0
	for i, entry := range list {
		obj, ok := entry.(map[string]any)
		if !ok {
			return fmt.Errorf("authorization_details[%d] is not an object", i)
		}
		typ, ok := obj["type"].(string)
		if !ok || typ == "" {
			return fmt.Errorf("authorization_details[%d] has no type (RFC 9396 requires one)", i)
		}
		if typ != DetailType && typ != DetailTypeURL {
			continue
		}
		if details++; details > maxDetails {
			return fmt.Errorf("more than %d mercure authorization details", maxDetails)
		}
		publish, subscribe, err := detailActions(obj["actions"])
		if err != nil {
			return fmt.Errorf("authorization_details[%d]: %w", i, err)
		}
		topics, ok := obj["topics"].([]any)
		if !ok || len(topics) == 0 {
			return fmt.Errorf("authorization_details[%d]: topics must be a non-empty array", i)
		}
		if matches += len(topics); matches > maxMatches {
			return fmt.Errorf("more than %d topic matchers in authorization_details", maxMatches)
		}
		sels := make([]topic.Selector, 0, len(topics))
		for j, t := range topics {
			s, err := detailMatcher(t, p)
			if err != nil {
				return fmt.Errorf("authorization_details[%d].topics[%d]: %w", i, j, err)
			}
			sels = append(sels, s)
		}
		var payload json.RawMessage
		if pl, present := obj["payload"]; present {
			if _, isObj := pl.(map[string]any); !isObj {
				return fmt.Errorf("authorization_details[%d]: payload must be a JSON object", i)
			}
			if payload, err = json.Marshal(pl); err != nil {
				return fmt.Errorf("authorization_details[%d]: payload: %w", i, err)
			}
		}
		if publish {
			c.Publish = append(c.Publish, sels...)
		}
		if subscribe {
			c.Subscribe = append(c.Subscribe, sels...)
			c.Payloads = append(c.Payloads, herald.ScopedPayload{Selectors: sels, Payload: payload})
		}
	}
	return nil
}

// detailActions reads a detail's actions: a non-empty array of strings.
// Actions this hub does not know grant nothing but do not invalidate the
// token (draft-08 leaves room for future actions); a non-string does.
func detailActions(raw any) (publish, subscribe bool, err error) {
	list, ok := raw.([]any)
	if !ok || len(list) == 0 {
		return false, false, errors.New("actions must be a non-empty array")
	}
	for _, a := range list {
		s, ok := a.(string)
		if !ok {
			return false, false, errors.New("actions must hold strings")
		}
		switch s {
		case "publish":
			publish = true
		case "subscribe":
			subscribe = true
		}
	}
	return publish, subscribe, nil
}

// detailMatcher reads one topic matcher object {"match": ..., "match_type":
// ...}. The match type defaults to exact; "*" is the wildcard whatever the
// type. The interim drafts' spelling {"matchType": "Exact"|"URLPattern"}
// is read too.
func detailMatcher(raw any, p topic.Parser) (topic.Selector, error) {
	obj, ok := raw.(map[string]any)
	if !ok {
		return topic.Selector{}, errors.New("a topic matcher must be an object")
	}
	match, ok := obj["match"].(string)
	if !ok || match == "" {
		return topic.Selector{}, errors.New(`a topic matcher needs a non-empty "match" string`)
	}
	kind := topic.Exact
	mt, hasMT := obj["match_type"]
	if !hasMT {
		if v, interim := obj["matchType"]; interim {
			switch v {
			case "Exact":
				mt, hasMT = "exact", true
			case "URLPattern":
				mt, hasMT = "urlpattern", true
			default:
				return topic.Selector{}, fmt.Errorf("unsupported matchType %v", v)
			}
		}
	}
	if hasMT {
		switch mt {
		case "exact":
		case "urlpattern":
			kind = topic.URLPattern
		default:
			return topic.Selector{}, fmt.Errorf("unsupported match_type %v (exact or urlpattern)", mt)
		}
	}
	return p.Parse(kind, match)
}

// parseMercureClaim reads the draft-07 "mercure" claim: {"publish":
// [selectors], "subscribe": [selectors], "payload": any}.
func parseMercureClaim(raw any, p topic.Parser, c *herald.Claims) error {
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	var m struct {
		Publish   []string        `json:"publish"`
		Subscribe []string        `json:"subscribe"`
		Payload   json.RawMessage `json:"payload"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("the mercure claim is malformed: %w", err)
	}
	if c.Publish, err = p.ParseDraft07Set(m.Publish); err != nil {
		return fmt.Errorf("mercure.publish: %w", err)
	}
	if c.Subscribe, err = p.ParseDraft07Set(m.Subscribe); err != nil {
		return fmt.Errorf("mercure.subscribe: %w", err)
	}
	if len(m.Payload) > 0 && !bytes.Equal(m.Payload, []byte("null")) {
		c.Payload = m.Payload
	}
	return nil
}
