package topic

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

const hubURL = "https://hub.example.com/.well-known/mercure"

type matchCase struct {
	topic string
	want  bool
}

func checkMatches(t *testing.T, s Selector, cases []matchCase) {
	t.Helper()
	c := NewCache(64)
	for _, tc := range cases {
		if got := s.Match(tc.topic); got != tc.want {
			t.Errorf("%s %q: Match(%q) = %v, want %v", s.Kind(), s, tc.topic, got, tc.want)
		}
		for range 2 { // miss, then hit
			if got := c.Match(s, tc.topic); got != tc.want {
				t.Errorf("%s %q: Cache.Match(%q) = %v, want %v", s.Kind(), s, tc.topic, got, tc.want)
			}
		}
		if got := (Set{s}).Match(tc.topic); got != tc.want {
			t.Errorf("%s %q: Set.Match(%q) = %v, want %v", s.Kind(), s, tc.topic, got, tc.want)
		}
	}
}

func TestAny(t *testing.T) {
	for _, kind := range []Kind{Any, Exact, Template, URLPattern} {
		s, err := Parse(kind, "*")
		if err != nil {
			t.Fatalf("Parse(%s, *): %v", kind, err)
		}
		if s.Kind() != Any || s.String() != "*" {
			t.Errorf("Parse(%s, *) = %s %q, want any *", kind, s.Kind(), s)
		}
		checkMatches(t, s, []matchCase{{"https://example.com/foo", true}, {"*", true}, {"", true}, {"bar", true}})
	}
	s, err := ParseDraft07("*")
	if err != nil || s.Kind() != Any {
		t.Errorf("ParseDraft07(*) = %v, %v; want any", s.Kind(), err)
	}
	if _, err := Parse(Any, "**"); !errors.Is(err, ErrSyntax) {
		t.Errorf("Parse(Any, **) error = %v, want ErrSyntax", err)
	}
}

func TestExact(t *testing.T) {
	tests := []struct {
		expr  string
		cases []matchCase
	}{
		{"https://example.com/foo", []matchCase{
			{"https://example.com/foo", true},
			{"https://example.com/foo/", false},
			{"https://example.com/fo", false},
			{"https://EXAMPLE.com/foo", false}, // no normalisation, even of the host
			{"HTTPS://example.com/foo", false},
			{"https://example.com:443/foo", false},
			{"https://example.com/%66oo", false},
			{"", false},
		}},
		{"bar", []matchCase{{"bar", true}, {"Bar", false}, {"/bar", false}}},
		// NFC and NFD forms differ byte for byte.
		{"café", []matchCase{{"café", true}, {"cafe\u0301", false}}},
		// Template and URL-pattern syntax is plain text to Exact.
		{"https://example.com/books/{id}", []matchCase{
			{"https://example.com/books/{id}", true},
			{"https://example.com/books/1", false},
		}},
		{"https://example.com/books/:id", []matchCase{
			{"https://example.com/books/:id", true},
			{"https://example.com/books/1", false},
		}},
		{"**", []matchCase{{"**", true}, {"*", false}, {"x", false}}},
	}
	for _, tt := range tests {
		s, err := Parse(Exact, tt.expr)
		if err != nil {
			t.Fatalf("Parse(Exact, %q): %v", tt.expr, err)
		}
		if s.Kind() != Exact || s.String() != tt.expr {
			t.Errorf("Parse(Exact, %q) = %s %q", tt.expr, s.Kind(), s)
		}
		checkMatches(t, s, tt.cases)
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		expr  string
		cases []matchCase
	}{
		{"https://example.com/books/{id}", []matchCase{
			{"https://example.com/books/1", true},
			{"https://example.com/books/abc-._~", true},
			{"https://example.com/books/caf%C3%A9", true},
			{"https://example.com/books/", true}, // {id} may expand to ""
			{"https://example.com/books/{id}", true},
			{"https://example.com/books/1/2", false}, // "/" is reserved
			{"https://example.com/books/1?x=1", false},
			{"https://example.com/books/café", false}, // expansion pct-encodes
			{"https://example.com/books/a%2", false},
			{"http://example.com/books/1", false},
			{"https://example.com/book/1", false},
		}},
		{"https://example.com/{+path}", []matchCase{
			{"https://example.com/a/b/c", true},
			{"https://example.com/a/b/c?x=1&y=2#f", true},
			{"https://example.com/", true},
			{"https://example.org/a", false},
		}},
		{"https://example.com/books{?x}", []matchCase{
			{"https://example.com/books", true},
			{"https://example.com/books?x=1", true},
			{"https://example.com/books?x=", true},
			// Like the reference hub, whose regular expression does not
			// check the names of form-style query expansions.
			{"https://example.com/books?y=1", true},
			{"https://example.com/books?x=1/2", false},
			{"https://example.com/books/1", false},
		}},
		{"https://example.com/books{?page,sort}", []matchCase{
			{"https://example.com/books?page=2&sort=asc", true},
			{"https://example.com/books?page=2", true},
			{"https://example.com/books&page=2", false},
		}},
		{"https://example.com/{a}/{b}", []matchCase{
			{"https://example.com/1/2", true},
			{"https://example.com/1/2/3", false},
			{"https://example.com/1", false},
		}},
		{"https://example.com/{a,b}", []matchCase{
			{"https://example.com/1,2", true},
			{"https://example.com/1", true},
			{"https://example.com/1,2,3", true}, // commas are also list separators
			{"https://example.com/1/2", false},
		}},
		{"https://example.com/files{/path*}", []matchCase{
			{"https://example.com/files/a/b/c", true},
			{"https://example.com/files", true},
			{"https://example.com/filesx", false},
		}},
		{"https://example.com/doc{#section}", []matchCase{
			{"https://example.com/doc#intro", true},
			{"https://example.com/doc#a/b", true}, // "#" allows reserved characters
			{"https://example.com/doc", true},
			{"https://example.com/doc?intro", false},
		}},
		{"https://example.com/file{.ext}{;v}", []matchCase{
			{"https://example.com/file.json;v=2", true},
			{"https://example.com/file.json", true},
			{"https://example.com/file/json", false},
		}},
		{"/books/{id}", []matchCase{{"/books/1", true}, {"https://example.com/books/1", false}}},
		// Like the reference hub's regular expression, prefix modifiers do
		// not bound the length.
		{"https://example.com/{id:3}", []matchCase{
			{"https://example.com/abc", true},
			{"https://example.com/abcdef", true},
			{"https://example.com/a/b", false},
		}},
	}
	for _, tt := range tests {
		for _, parse := range []func(string) (Selector, error){
			func(e string) (Selector, error) { return Parse(Template, e) },
			ParseDraft07,
		} {
			s, err := parse(tt.expr)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.expr, err)
			}
			if s.Kind() != Template {
				t.Fatalf("parse %q: kind %s, want template", tt.expr, s.Kind())
			}
			checkMatches(t, s, tt.cases)
		}
	}

	// A template without expression matches its own text only.
	s, err := Parse(Template, "https://example.com/foo")
	if err != nil {
		t.Fatal(err)
	}
	checkMatches(t, s, []matchCase{{"https://example.com/foo", true}, {"https://example.com/foo/", false}})
}

func TestTemplateInvalid(t *testing.T) {
	for _, expr := range []string{
		"{", "}", "{a", "a}", "{}", "{a b}", "{{a}}", "{a}}", "{@a}", "{!a}",
		"{a:0}", "{a:10000}", "{a..b}", "{%zz}", "https://example.com/{id",
		"https://example.com/{ id }", "a b{c}", "{é}",
	} {
		_, err := Parse(Template, expr)
		var pe *ParseError
		if !errors.Is(err, ErrSyntax) || !errors.As(err, &pe) || pe.Kind != Template || pe.Expr != expr {
			t.Errorf("Parse(Template, %q) error = %v, want a ParseError wrapping ErrSyntax", expr, err)
		}
		// Draft-07 treats a selector that is not a valid template as a
		// plain string.
		s, err := ParseDraft07(expr)
		if err != nil {
			t.Errorf("ParseDraft07(%q): %v", expr, err)
			continue
		}
		if s.Kind() != Exact {
			t.Errorf("ParseDraft07(%q) kind = %s, want exact", expr, s.Kind())
		}
		checkMatches(t, s, []matchCase{{expr, true}, {"x" + expr, false}})
	}
	if s, err := ParseDraft07("https://example.com/books/1"); err != nil || s.Kind() != Exact {
		t.Errorf("ParseDraft07(plain) = %s, %v; want exact", s.Kind(), err)
	}
}

func TestURLPattern(t *testing.T) {
	tests := []struct {
		base  string
		expr  string
		cases []matchCase
	}{
		{"", "https://example.net/foo/:id", []matchCase{
			{"https://example.net/foo/1", true},
			{"https://example.net/foo/abc", true},
			{"https://example.net/foo/1?x=y", true}, // search and hash default to wildcards
			{"https://example.net/foo/1#h", true},
			{"https://EXAMPLE.net/foo/1", true}, // hosts are canonicalised
			{"HTTPS://example.net/foo/1", true},
			{"https://example.net:443/foo/1", true}, // default port
			{"https://example.net/foo/a/../1", true},
			{"https://example.net/foo/caf%C3%A9", true},
			{"https://example.net/foo/café", true}, // the topic is percent-encoded first
			{"https://example.net/foo/1/", false},  // trailing slash
			{"https://example.net/foo/", false},
			{"https://example.net/foo", false},
			{"https://example.net/FOO/1", false}, // paths are case-sensitive
			{"http://example.net/foo/1", false},  // other scheme
			{"https://example.net:8443/foo/1", false},
			{"https://other.net/foo/1", false},
			{"https://example.net.evil.com/foo/1", false},
			{"https://example.net/foo/:id", true}, // the pattern text, as draft-08 payload matching uses it
			{"bar", false},
			{"", false},
			{"https://[::1", false}, // not a URL
		}},
		{"", "https://example.net/foo/*", []matchCase{
			{"https://example.net/foo/1/2/3", true},
			{"https://example.net/foo/", true},
			{"https://example.net/foo", false},
		}},
		{"", "https://example.net/foo{/}?", []matchCase{
			{"https://example.net/foo", true},
			{"https://example.net/foo/", true},
			{"https://example.net/foo/1", false},
		}},
		{"", "https://example.net/books/:id(\\d+)", []matchCase{
			{"https://example.net/books/12", true},
			{"https://example.net/books/ab", false},
			{"https://example.net/books/12a", false},
		}},
		{"", "https://example.net/books/:id+", []matchCase{
			{"https://example.net/books/1/2", true},
			{"https://example.net/books/1", true},
			{"https://example.net/books/", false},
		}},
		{"", "https://example.net/books/:id?", []matchCase{
			{"https://example.net/books", true},
			{"https://example.net/books/1", true},
			{"https://example.net/books/", false},
		}},
		{"", "https://*.example.net/foo", []matchCase{
			{"https://a.example.net/foo", true},
			{"https://a.b.example.net/foo", true},
			{"https://example.net/foo", false},
		}},
		{"", "(http|https)://example.net/x", []matchCase{
			{"http://example.net/x", true},
			{"https://example.net/x", true},
			{"ftp://example.net/x", false},
		}},
		{"", "https://example.net/books?page=:p", []matchCase{
			{"https://example.net/books?page=2", true},
			{"https://example.net/books?page=2&x=1", true}, // search groups have no delimiter
			{"https://example.net/books", false},
		}},
		{"", "https://example.net/books/:id#frag", []matchCase{
			{"https://example.net/books/1#frag", true},
			{"https://example.net/books/1", false},
		}},
		// Absolute patterns without a hierarchical path ignore the base.
		{hubURL, "urn\\:uuid\\:*", []matchCase{
			{"urn:uuid:123", true},
			{"urn:isbn:123", false},
		}},
		{hubURL, "urn::rest", []matchCase{{"urn:uuid:123", true}, {"mailto:x", false}}},
		// Relative patterns and topics are resolved against the hub URL.
		{hubURL, "/books/:id", []matchCase{
			{"/books/1", true},
			{"https://hub.example.com/books/1", true},
			{"https://other.example.com/books/1", false},
			{"books/1", false}, // resolves to /.well-known/books/1
		}},
		{hubURL, "/.well-known/mercure/subscriptions/:type/:match/:sub", []matchCase{
			{"/.well-known/mercure/subscriptions/exact/foo/bar", true},
			{"https://hub.example.com/.well-known/mercure/subscriptions/exact/foo/bar", true},
		}},
		{hubURL, "https://example.net/books/:id", []matchCase{
			{"https://example.net/books/1", true},
			{"/books/1", false},
			{"https:example.net/books/1", false}, // same scheme as the base: relative
		}},
		// Without a configured base, relative meets relative only.
		{"", "/books/:id", []matchCase{
			{"/books/1", true},
			{"https://hub.example.com/books/1", false},
		}},
	}
	for _, tt := range tests {
		p := Parser{BaseURL: tt.base}
		s, err := p.Parse(URLPattern, tt.expr)
		if err != nil {
			t.Fatalf("Parse(URLPattern, %q): %v", tt.expr, err)
		}
		if s.Kind() != URLPattern || s.String() != tt.expr {
			t.Errorf("Parse(URLPattern, %q) = %s %q", tt.expr, s.Kind(), s)
		}
		checkMatches(t, s, tt.cases)
	}
}

func TestURLPatternInvalid(t *testing.T) {
	for _, expr := range []string{
		"(", "https://example.com/(", "https://example.com/(?:a)", "{", "\\",
		"https://example.com/:id/:id", "https://exa mple.com/", "https://example.com:99999/",
		"https://example.com/:id(\\p{Foo})", "https://example.com/(a**)", "http://[::1",
	} {
		_, err := Parse(URLPattern, expr)
		var pe *ParseError
		if !errors.Is(err, ErrSyntax) || !errors.As(err, &pe) || pe.Kind != URLPattern {
			t.Errorf("Parse(URLPattern, %q) error = %v, want ErrSyntax", expr, err)
			continue
		}
		if len(err.Error()) > 300 {
			t.Errorf("Parse(URLPattern, %q): error message is %d bytes long", expr, len(err.Error()))
		}
	}
	for _, base := range []string{"/relative", "not a url", "https://"} {
		_, err := Parser{BaseURL: base}.Parse(URLPattern, "/books/:id")
		if !errors.Is(err, ErrBaseURL) {
			t.Errorf("BaseURL %q: error = %v, want ErrBaseURL", base, err)
		}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		expr string
		want error
	}{
		{"", ErrEmpty},
		{"a\x00b", ErrForbiddenChar},
		{"a\tb", ErrForbiddenChar},
		{"a\nb", ErrForbiddenChar},
		{"a\rb", ErrForbiddenChar},
		{"\x1f", ErrForbiddenChar},
		{"a\x7fb", ErrForbiddenChar},
		{"a\u0085b", ErrForbiddenChar}, // C1 NEL
		{"a\u009fb", ErrForbiddenChar},
		{"a\u200bb", ErrForbiddenChar}, // zero-width space (Cf)
		{"a\u202eb", ErrForbiddenChar}, // right-to-left override (Cf)
		{"\ufeffa", ErrForbiddenChar},  // BOM (Cf)
		{"a\xffb", ErrInvalidUTF8},
		{"a\xc3", ErrInvalidUTF8},
		{"\xed\xa0\x80", ErrInvalidUTF8}, // UTF-16 surrogate
		{strings.Repeat("a", DefaultMaxLength+1), ErrTooLong},
	}
	for _, tt := range tests {
		for _, kind := range []Kind{Exact, Template, URLPattern} {
			_, err := Parse(kind, tt.expr)
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse(%s, %q) error = %v, want %v", kind, truncate(tt.expr), err, tt.want)
			}
		}
		if _, err := ParseDraft07(tt.expr); !errors.Is(err, tt.want) {
			t.Errorf("ParseDraft07(%q) error = %v, want %v", truncate(tt.expr), err, tt.want)
		}
		if tt.want != ErrEmpty && tt.want != ErrTooLong {
			if err := ValidateText(tt.expr); !errors.Is(err, tt.want) {
				t.Errorf("ValidateText(%q) = %v, want %v", tt.expr, err, tt.want)
			}
		}
	}
	for _, ok := range []string{"https://example.com/é/日本/🙂", "a b", "\u00a0", "\u00ad"[:0] + "x"} {
		if err := ValidateText(ok); err != nil {
			t.Errorf("ValidateText(%q) = %v", ok, err)
		}
	}

	// The length limit is inclusive and configurable.
	if _, err := Parse(Exact, strings.Repeat("a", DefaultMaxLength)); err != nil {
		t.Errorf("selector of exactly DefaultMaxLength bytes: %v", err)
	}
	p := Parser{MaxLength: 10}
	if _, err := p.Parse(Exact, "0123456789"); err != nil {
		t.Errorf("MaxLength 10, 10 bytes: %v", err)
	}
	if _, err := p.Parse(Exact, "0123456789a"); !errors.Is(err, ErrTooLong) {
		t.Errorf("MaxLength 10, 11 bytes: %v, want ErrTooLong", err)
	}

	for _, kind := range []Kind{0, URLPattern + 1, 255} {
		if _, err := Parse(kind, "x"); !errors.Is(err, ErrKind) {
			t.Errorf("Parse(%s) error = %v, want ErrKind", kind, err)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse(Exact, "https://example.com/a\x07b")
	const want = `topic: exact selector "https://example.com/a\ab": forbidden character: U+0007 at byte 21`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	_, err = Parse(Exact, strings.Repeat("é", 3000))
	if err == nil || len(err.Error()) > 200 || !strings.Contains(err.Error(), "6000 bytes, limit 4096") {
		t.Errorf("oversize error = %v", err)
	}
	_, err = Parser{}.ParseSet([]Spec{{Exact, "a"}, {URLPattern, "("}})
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Index != 1 || !strings.Contains(err.Error(), `#1 "("`) {
		t.Errorf("ParseSet error = %v, want index 1", err)
	}
}

func TestComplexity(t *testing.T) {
	manyVars := "https://example.com/{" + strings.Repeat("a,", 20) + "a}"
	manyExprs := "https://example.com/" + strings.Repeat("{+a}", 20)
	manyNames := "https://example.com"
	for i := range 20 {
		manyNames += "/:a" + string(rune('a'+i))
	}
	for _, tt := range []struct {
		kind Kind
		expr string
	}{
		{Template, manyVars},
		{Template, manyExprs},
		{URLPattern, manyNames},
		{URLPattern, "https://example.com/" + strings.Repeat("*", 20)},
		{URLPattern, "https://example.com/(a{1000})"},
		{URLPattern, "https://example.com/:id([a-z]{200})"},
		{URLPattern, "https://example.com/((?:a{100}){100})"},
	} {
		if _, err := Parse(tt.kind, tt.expr); !errors.Is(err, ErrTooComplex) {
			t.Errorf("Parse(%s, %q) error = %v, want ErrTooComplex", tt.kind, truncate(tt.expr), err)
		}
	}
	if _, err := ParseDraft07(manyVars); !errors.Is(err, ErrTooComplex) {
		t.Errorf("ParseDraft07(many variables) error = %v, want ErrTooComplex", err)
	}

	// Ordinary selectors are far below the limit.
	for _, tt := range []struct {
		kind Kind
		expr string
	}{
		{Template, "https://example.com/users/{id}/books/{bookId}{?page,sort,order}"},
		{Template, "https://example.com/{+path}{#frag}"},
		{URLPattern, "https://:tenant.example.com/api/:version(v\\d{1,3})/books/:id/*"},
		{URLPattern, "https://example.com/books/:id(\\d{1,20})"},
	} {
		if _, err := Parse(tt.kind, tt.expr); err != nil {
			t.Errorf("Parse(%s, %q): %v", tt.kind, tt.expr, err)
		}
	}

	// A higher limit admits them, and even templates beyond RE2's repeat
	// limit fail cleanly instead of panicking.
	p := Parser{MaxComplexity: 1 << 20, MaxLength: 1 << 20}
	if _, err := p.Parse(Template, manyVars); err != nil {
		t.Errorf("raised MaxComplexity: %v", err)
	}
	if _, err := p.Parse(URLPattern, "https://example.com/(a{1000})"); err != nil {
		t.Errorf("raised MaxComplexity: %v", err)
	}
	huge := "{" + strings.Repeat("a,", 1500) + "a}"
	if _, err := p.Parse(Template, huge); !errors.Is(err, ErrSyntax) {
		t.Errorf("template with 1501 variables: %v, want ErrSyntax", err)
	}

	if got := regexpComplexity("a{1000}"); got < 1000 {
		t.Errorf("regexpComplexity(a{1000}) = %d", got)
	}
	if got := regexpComplexity("(?:(?:a{10}){10}){10}"); got < 1000 {
		t.Errorf("regexpComplexity of nested repeats = %d, want > 1000", got)
	}
	if got := mulSat(costSaturate, 3); got != costSaturate {
		t.Errorf("mulSat overflow: %d", got)
	}
	if got := urlPatternComplexity("https://example.com/books"); got != 0 {
		t.Errorf("literal URL pattern complexity = %d, want 0", got)
	}
	if got := templateComplexity("https://example.com/books"); got != 0 {
		t.Errorf("literal template complexity = %d, want 0", got)
	}
}

func TestKeyAndEquality(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		expr string
	}{
		{Exact, "https://example.com/a"},
		{Template, "https://example.com/{a}"},
		{URLPattern, "https://example.com/:a"},
		{Any, "*"},
	} {
		a, err1 := Parse(tt.kind, tt.expr)
		b, err2 := Parse(tt.kind, tt.expr)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if a.Key() != b.Key() {
			t.Errorf("%s %q: keys differ: %+v %+v", tt.kind, tt.expr, a.Key(), b.Key())
		}
		if (tt.kind == Exact || tt.kind == Any) && a != b {
			t.Errorf("%s %q: selectors differ", tt.kind, tt.expr)
		}
	}
	a, _ := Parser{BaseURL: hubURL}.Parse(URLPattern, "/a/:b")
	b, _ := Parser{}.Parse(URLPattern, "/a/:b")
	if a.Key() == b.Key() {
		t.Error("URL patterns with different bases share a key")
	}
	e, _ := Parse(Exact, "/a/{b}")
	tp, _ := Parse(Template, "/a/{b}")
	if e.Key() == tp.Key() {
		t.Error("exact and template selectors share a key")
	}
	var zero Selector
	if !zero.IsZero() || zero.Match("") || zero.Match("x") || NewCache(8).Match(zero, "x") || (Set{zero}).Match("x") {
		t.Error("the zero Selector matches")
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range []Kind{Any, Exact, Template, URLPattern} {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	for _, name := range []string{"", "Exact", "URLPattern", "url_pattern", "regex"} {
		if _, err := ParseKind(name); err == nil {
			t.Errorf("ParseKind(%q) succeeded", name)
		}
	}
}

func TestNeedsBase(t *testing.T) {
	for _, tt := range []struct {
		topic string
		want  bool
	}{
		{"https://example.com/a", false},
		{"HTTP://example.com/a", false},
		{"wss://example.com/a", false},
		{"file:///etc/passwd", false},
		{"custom+x-1.0://a", false},
		{"urn:uuid:1", false},
		{"mailto:a@example.com", false},
		{"https:example.com/a", true}, // same special scheme as the base: relative
		{"https:/example.com/a", true},
		{"file:foo", true},
		{"/a/b", true},
		{"a/b", true},
		{"a", true},
		{"", true},
		{"1http://a", true},
		{":a", true},
		{" https://a", true},
		{"https://a\tb", true},
		{"ht\ttps://a", true},
		{"a b:c", true},
	} {
		if got := needsBase(tt.topic); got != tt.want {
			t.Errorf("needsBase(%q) = %v, want %v", tt.topic, got, tt.want)
		}
	}
}

func TestConcurrentParseMatch(t *testing.T) {
	p := Parser{BaseURL: hubURL}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				for _, spec := range []Spec{
					{URLPattern, fmt.Sprintf("https://example.com/%d/:id", w)},
					{URLPattern, "/books/:id(\\d+)"},
					{Template, fmt.Sprintf("https://example.com/%d/{id}", w)},
				} {
					s, err := p.Parse(spec.Kind, spec.Expr)
					if err != nil {
						t.Error(err)
						return
					}
					s.Match(fmt.Sprintf("https://example.com/%d/%d", w, i))
					s.Match("/books/12")
				}
			}
		})
	}
	wg.Wait()
}
