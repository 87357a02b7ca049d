package topic

import "fmt"

// Kind is the kind of a topic selector. The zero Kind is not a valid kind;
// a selector of that kind (the zero [Selector]) matches nothing.
type Kind uint8

const (
	// Any is the reserved wildcard selector "*", which matches every topic.
	Any Kind = iota + 1
	// Exact matches the one topic equal to the selector, byte for byte.
	Exact
	// Template is an RFC 6570 URI template (Mercure draft-07).
	Template
	// URLPattern is a WHATWG URL Pattern (Mercure draft-08).
	URLPattern
)

// String returns the name of the kind: "any", "exact", "template" or
// "urlpattern". The names of Exact and URLPattern are the draft-08 matcher
// type names.
func (k Kind) String() string {
	switch k {
	case Any:
		return "any"
	case Exact:
		return "exact"
	case Template:
		return "template"
	case URLPattern:
		return "urlpattern"
	default:
		return fmt.Sprintf("Kind(%d)", uint8(k))
	}
}

// valid reports whether k is one of the defined kinds.
func (k Kind) valid() bool { return k >= Any && k <= URLPattern }

// ParseKind returns the kind named by name, one of the names returned by
// [Kind.String]. Names are case-sensitive, as draft-08 requires for the
// match_type member of authorization details; "exact" and "urlpattern" are
// the draft-08 matcher types.
func ParseKind(name string) (Kind, error) {
	switch name {
	case "any":
		return Any, nil
	case "exact":
		return Exact, nil
	case "template":
		return Template, nil
	case "urlpattern":
		return URLPattern, nil
	default:
		return 0, fmt.Errorf("topic: unknown selector kind %q", truncate(name))
	}
}
