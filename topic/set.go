package topic

import "fmt"

// Set is a list of selectors: a subscriber's subscription, or the publish
// or subscribe selectors of a token. A topic matches the set when it
// matches at least one selector. The nil Set matches nothing.
type Set []Selector

// Spec is the unparsed form of one selector, as given by a query parameter
// or a token claim.
type Spec struct {
	Kind Kind   // how to parse Expr
	Expr string // the selector's text
}

// ParseSet parses a list of selectors of any kinds, as [Parser.Parse]
// would, after checking that there are at most MaxCount of them. The error
// is a [*ParseError] whose Index says which selector failed (or -1 for
// [ErrTooMany]).
func (p Parser) ParseSet(specs []Spec) (Set, error) {
	if max := p.maxCount(); len(specs) > max {
		return nil, p.tooMany(len(specs))
	}
	set := make(Set, 0, len(specs))
	for i, spec := range specs {
		s, err := p.parse(spec.Kind, spec.Expr, false, i)
		if err != nil {
			return nil, err
		}
		set = append(set, s)
	}
	return set, nil
}

// ParseDraft07Set parses a list of draft-07 selectors, as
// [Parser.ParseDraft07] would, after checking that there are at most
// MaxCount of them.
func (p Parser) ParseDraft07Set(exprs []string) (Set, error) {
	if max := p.maxCount(); len(exprs) > max {
		return nil, p.tooMany(len(exprs))
	}
	set := make(Set, 0, len(exprs))
	for i, expr := range exprs {
		s, err := p.parse(draft07Kind(expr), expr, true, i)
		if err != nil {
			return nil, err
		}
		set = append(set, s)
	}
	return set, nil
}

func (p *Parser) tooMany(n int) error {
	return &ParseError{Index: -1, Err: ErrTooMany, Detail: fmt.Sprintf("%d selectors, limit %d", n, p.maxCount())}
}

// Match reports whether topic matches at least one selector of s.
func (s Set) Match(topic string) bool {
	return s.matchAny(nil, []string{topic})
}

// MatchAny reports whether at least one of topics (an update's topics)
// matches at least one selector of s. Cheap comparisons (the wildcard and
// exact selectors) are tried on every topic before any template or URL
// pattern is evaluated.
func (s Set) MatchAny(topics []string) bool {
	return s.matchAny(nil, topics)
}

// MatchCached is [Set.Match] with templates and URL patterns answered
// through c, which may be nil.
func (s Set) MatchCached(c *Cache, topic string) bool {
	return s.matchAny(c, []string{topic})
}

// MatchAnyCached is [Set.MatchAny] with templates and URL patterns
// answered through c, which may be nil.
func (s Set) MatchAnyCached(c *Cache, topics []string) bool {
	return s.matchAny(c, topics)
}

func (s Set) matchAny(c *Cache, topics []string) bool {
	slow := false
	for _, sel := range s {
		switch sel.kind {
		case Any:
			return true
		case Exact, Template:
			for _, t := range topics {
				if t == sel.expr {
					return true
				}
			}
			slow = slow || sel.kind == Template && sel.c.re != nil
		case URLPattern:
			slow = true
		}
	}
	if !slow {
		return false
	}
	for _, sel := range s {
		if sel.kind != Template && sel.kind != URLPattern || sel.c.re == nil && sel.c.up == nil {
			continue
		}
		for _, t := range topics {
			if c.slowMatch(sel.c, t) {
				return true
			}
		}
	}
	return false
}
