package topic

import (
	"errors"
	"testing"
)

// FuzzParseMatch parses arbitrary selectors of every kind, matches them
// against arbitrary topics, and checks that nothing panics, that errors are
// ParseErrors wrapping a sentinel, that reparsing is stable, and that the
// cached and set-based matches agree with Selector.Match.
func FuzzParseMatch(f *testing.F) {
	seeds := [][2]string{
		{"*", "https://example.com/foo"},
		{"https://example.com/foo", "https://example.com/foo"},
		{"https://example.com/books/{id}", "https://example.com/books/1"},
		{"https://example.com/{+path}", "https://example.com/a/b?c#d"},
		{"https://example.com/books{?x,y}", "https://example.com/books?x=1&y=2"},
		{"https://example.com/{a,b}/{c*}", "https://example.com/1,2/3,4"},
		{"{", "{"},
		{"https://example.net/foo/:id", "https://example.net/foo/1"},
		{"https://example.net/foo/*", "https://EXAMPLE.net:443/foo/1/2"},
		{"https://example.net/books/:id(\\d+)", "https://example.net/books/12"},
		{"/books/:id", "/books/1"},
		{"/books/:id", "https://hub.example.com/books/1"},
		{"urn\\:uuid\\:*", "urn:uuid:1"},
		{"(http|https)://:host/*", "http://a/b"},
		{"https://*.example.net/:a?/:b+", "https:example.net/x"},
		{"https://[::1]:8080/x", "https://[::1]:8080/x"},
		{"file:///etc/:f", "file:/etc/passwd"},
		{"a\x00b", "a\x00b"},
		{"caf\u00e9/{x}", "caf\xc3"},
		{"https://example.com/(a{1000})", "https://example.com/a"},
	}
	for _, s := range seeds {
		for kind := range uint8(5) {
			f.Add(kind, s[0], s[1])
		}
	}
	p := Parser{BaseURL: "https://hub.example.com/.well-known/mercure"}
	c := NewCache(64) // small: the fuzzer exercises eviction too
	f.Fuzz(func(t *testing.T, kindByte uint8, expr, topic string) {
		var (
			s   Selector
			err error
		)
		if kind := Kind(kindByte % 5); kind == 0 {
			s, err = p.ParseDraft07(expr)
		} else {
			s, err = p.Parse(kind, expr)
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Err == nil || !errors.Is(err, pe.Err) {
				t.Fatalf("error %v (%T) is not a ParseError with a sentinel", err, err)
			}
			return
		}
		if !s.Kind().valid() || s.String() != expr && !(s.Kind() == Any && expr == "*") {
			t.Fatalf("parsed %q as %s %q", expr, s.Kind(), s)
		}
		want := s.Match(topic)
		switch s.Kind() {
		case Any:
			if !want {
				t.Fatal("Any did not match")
			}
		case Exact:
			if want != (topic == expr) {
				t.Fatalf("Exact %q Match(%q) = %v", expr, topic, want)
			}
		case Template:
			if topic == expr && !want {
				t.Fatalf("template %q does not match its own text", expr)
			}
		case URLPattern:
			// Skipping the base for absolute topics must not change
			// the result.
			if !needsBase(topic) {
				func() {
					defer func() { _ = recover() }()
					if with := s.c.up.Test(topic, s.c.base); with != want {
						t.Fatalf("URL pattern %q, topic %q: %v without base, %v with", expr, topic, want, with)
					}
				}()
			}
		}
		for range 2 {
			if got := c.Match(s, topic); got != want {
				t.Fatalf("Cache.Match(%s %q, %q) = %v, Match = %v", s.Kind(), expr, topic, got, want)
			}
		}
		if got := (Set{s}).MatchAnyCached(c, []string{"\x00", topic}); got != want && !s.Match("\x00") {
			t.Fatalf("Set.MatchAnyCached = %v, Match = %v", got, want)
		}
		s2, err := p.Parse(s.Kind(), expr)
		if s.Kind() == Any {
			s2, err = p.Parse(Any, "*")
		}
		if err != nil || s2.Key() != s.Key() || s2.Match(topic) != want {
			t.Fatalf("reparsing %s %q: %v, key %+v vs %+v", s.Kind(), expr, err, s2.Key(), s.Key())
		}
	})
}
