package topic

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"

	urlpattern "github.com/dunglas/go-urlpattern"
	whatwgurl "github.com/nlnwa/whatwg-url/url"
	"github.com/yosida95/uritemplate/v3"
)

// Default limits of a [Parser] whose fields are zero.
const (
	// DefaultMaxLength is the default bound on the length of a selector,
	// in bytes.
	DefaultMaxLength = 4096
	// DefaultMaxCount is the default bound on the number of selectors in
	// one list (one subscription request, one token claim).
	DefaultMaxCount = 100
	// DefaultMaxComplexity is the default bound on the estimated
	// complexity of a template or URL pattern: roughly the number of
	// regular-expression instructions it compiles to, literal text
	// excluded. Each variable, named group or wildcard counts 16, so the
	// default admits about 16 of them; a custom regular-expression group
	// counts 16 plus twice its size with counted repetitions multiplied out
	// ("(a{1000})" counts more than 2000).
	DefaultMaxComplexity = 256
	// DefaultBaseURL is the base URL used to resolve relative URL patterns
	// and relative topics when [Parser.BaseURL] is empty. Its host is
	// reserved (RFC 6761), so a relative pattern then matches relative
	// topics, and absolute patterns absolute topics, but the two never
	// meet; configure the hub URL to match across.
	DefaultBaseURL = "https://hub.invalid/.well-known/mercure"
)

// Parser parses selectors under configurable limits. The zero Parser is
// ready to use with the default limits and base URL. A Parser is a plain
// value, safe to copy and to use concurrently.
type Parser struct {
	// BaseURL is the URL against which relative URL patterns and relative
	// topics are resolved; Mercure draft-08 requires the hub URL (for
	// example "https://example.com/.well-known/mercure"). Empty means
	// [DefaultBaseURL]. It only affects URL patterns.
	BaseURL string
	// MaxLength bounds the length of a selector in bytes; zero or less
	// means [DefaultMaxLength].
	MaxLength int
	// MaxCount bounds the number of selectors given to ParseSet and
	// ParseDraft07Set; zero or less means [DefaultMaxCount].
	MaxCount int
	// MaxComplexity bounds the estimated complexity of a template or URL
	// pattern, which bounds the cost of matching it; zero or less means
	// [DefaultMaxComplexity].
	MaxComplexity int
}

func (p *Parser) maxLength() int {
	if p.MaxLength > 0 {
		return p.MaxLength
	}
	return DefaultMaxLength
}

func (p *Parser) maxCount() int {
	if p.MaxCount > 0 {
		return p.MaxCount
	}
	return DefaultMaxCount
}

func (p *Parser) maxComplexity() int {
	if p.MaxComplexity > 0 {
		return p.MaxComplexity
	}
	return DefaultMaxComplexity
}

func (p *Parser) baseURL() string {
	if p.BaseURL != "" {
		return p.BaseURL
	}
	return DefaultBaseURL
}

// Selector is a parsed topic selector. It is a small value, safe to copy and
// to use concurrently; templates and URL patterns hold their compiled
// matcher, shared by the copies. The zero Selector matches nothing.
//
// Two Selectors of kind Any or Exact with the same text are equal (==);
// templates and URL patterns parsed twice are not, but their [Selector.Key]
// values are, which is what interning should use.
type Selector struct {
	kind Kind
	expr string
	c    *compiled // Template and URLPattern only
}

// compiled is the immutable compiled form of a template or URL pattern.
type compiled struct {
	// id identifies this compiled matcher in a Cache's hash; it is random
	// so that no package state is needed to allocate it.
	id   uint64
	re   *regexp.Regexp         // Template; nil when it has no variables
	up   *urlpattern.URLPattern // URLPattern
	base string                 // URLPattern: the base URL
}

// Key is a comparable value identifying a selector: selectors with equal
// keys match the same topics. Use it to intern selectors in a map.
type Key struct {
	Kind Kind   // the selector's kind
	Expr string // the selector's text
	// Base is the base URL of a URL pattern, empty for other kinds.
	Base string
}

// Kind returns the kind of s.
func (s Selector) Kind() Kind { return s.kind }

// String returns the selector text ("*" for Any, empty for the zero
// Selector).
func (s Selector) String() string { return s.expr }

// IsZero reports whether s is the zero Selector.
func (s Selector) IsZero() bool { return s.kind == 0 }

// Key returns the interning key of s.
func (s Selector) Key() Key {
	k := Key{Kind: s.kind, Expr: s.expr}
	if s.kind == URLPattern {
		k.Base = s.c.base
	}
	return k
}

// Match reports whether topic matches s. It never panics and runs in time
// linear in len(topic).
func (s Selector) Match(topic string) bool {
	switch s.kind {
	case Any:
		return true
	case Exact:
		return topic == s.expr
	case Template:
		return topic == s.expr || (s.c.re != nil && s.c.re.MatchString(topic))
	case URLPattern:
		return s.c.matchURL(topic)
	default:
		return false
	}
}

// slowMatch evaluates a template's regular expression or a URL pattern,
// the part of Match worth caching.
func (c *compiled) slowMatch(topic string) bool {
	if c.re != nil {
		return c.re.MatchString(topic)
	}
	if c.up != nil {
		return c.matchURL(topic)
	}
	return false
}

// matchURL tests topic against the URL pattern, resolving a relative topic
// against the base URL. Draft-08: a topic that does not parse as a URL
// reference does not match.
func (c *compiled) matchURL(topic string) (ok bool) {
	defer func() {
		// The URL Pattern library is not ours; a panic on hostile input
		// must not take the hub down. Treat it as no match.
		if recover() != nil {
			ok = false
		}
	}()
	base := c.base
	if !needsBase(topic) {
		// Resolving against the base would give the same URL; skip
		// parsing the base on every call.
		base = ""
	}
	return c.up.Test(topic, base)
}

// needsBase reports whether resolving topic as a URL reference may depend
// on the base URL. Per the WHATWG URL parser, an input that starts with a
// scheme never uses the base, except a special scheme (http, https, ws,
// wss, ftp, file) not followed by "//", which may be resolved relative to
// a base of the same scheme. Inputs with tab or newline characters, which
// the parser strips anywhere, take the slow path.
func needsBase(topic string) bool {
	i := 0
	for ; i < len(topic); i++ {
		c := topic[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			goto scheme
		default:
			return true
		}
	}
	return true
scheme:
	if strings.ContainsAny(topic, "\t\n\r") {
		return true
	}
	rest := topic[i+1:]
	if strings.HasPrefix(rest, "//") {
		return false
	}
	switch strings.ToLower(topic[:i]) {
	case "http", "https", "ws", "wss", "ftp", "file":
		return true
	}
	return false
}

// Parse parses expr as a selector of the given kind with the default
// limits; see [Parser.Parse].
func Parse(kind Kind, expr string) (Selector, error) {
	var p Parser
	return p.Parse(kind, expr)
}

// ParseDraft07 parses a draft-07 selector with the default limits; see
// [Parser.ParseDraft07].
func ParseDraft07(expr string) (Selector, error) {
	var p Parser
	return p.ParseDraft07(expr)
}

// Parse parses expr as a selector of the given kind.
//
// The text must be non-empty, at most MaxLength bytes, and pass
// [ValidateText]. Whatever the kind, "*" yields an Any selector: draft-08
// reserves it as the wildcard before the matcher type is resolved, and
// draft-07 gives it the same meaning. A selector of kind Any must be "*".
// Templates and URL patterns must be syntactically valid and within
// MaxComplexity; they are compiled here. The error is a [*ParseError].
func (p Parser) Parse(kind Kind, expr string) (Selector, error) {
	return p.parse(kind, expr, false, -1)
}

// ParseDraft07 parses a draft-07 topic selector: "*" is Any; text with a
// "{" is an RFC 6570 URI template; anything else is Exact. Draft-07 lets a
// selector be any string and treats one that is not a valid URI template
// as a plain string, as the reference hub does, so text with a "{" that
// does not parse as a template yields an Exact selector rather than an
// error. Length, text and complexity limits apply as in [Parser.Parse].
func (p Parser) ParseDraft07(expr string) (Selector, error) {
	return p.parse(draft07Kind(expr), expr, true, -1)
}

// draft07Kind is the kind a draft-07 selector is first tried as.
func draft07Kind(expr string) Kind {
	if strings.Contains(expr, "{") {
		return Template
	}
	return Exact
}

func (p *Parser) parse(kind Kind, expr string, lenient bool, index int) (Selector, error) {
	fail := func(err error, detail string) (Selector, error) {
		return Selector{}, &ParseError{Kind: kind, Expr: expr, Index: index, Err: err, Detail: detail}
	}
	if !kind.valid() {
		return fail(ErrKind, "")
	}
	if expr == "" {
		return fail(ErrEmpty, "")
	}
	if max := p.maxLength(); len(expr) > max {
		return fail(ErrTooLong, fmt.Sprintf("%d bytes, limit %d", len(expr), max))
	}
	if detail, err := checkText(expr); err != nil {
		return fail(err, detail)
	}
	if expr == "*" {
		return Selector{kind: Any, expr: "*"}, nil
	}
	// Selectors outlive requests; do not pin the buffer expr may have been
	// sliced from.
	expr = strings.Clone(expr)
	switch kind {
	case Any:
		return fail(ErrSyntax, `the wildcard selector must be "*"`)
	case Exact:
		return Selector{kind: Exact, expr: expr}, nil
	case Template:
		if c := templateComplexity(expr); c > p.maxComplexity() {
			return fail(ErrTooComplex, fmt.Sprintf("complexity %d, limit %d", c, p.maxComplexity()))
		}
		re, err := compileTemplate(expr)
		if err != nil {
			if lenient {
				return Selector{kind: Exact, expr: expr}, nil
			}
			return fail(ErrSyntax, err.Error())
		}
		return Selector{kind: Template, expr: expr, c: &compiled{id: rand.Uint64(), re: re}}, nil
	default: // URLPattern
		if c := urlPatternComplexity(expr); c > p.maxComplexity() {
			return fail(ErrTooComplex, fmt.Sprintf("complexity %d, limit %d", c, p.maxComplexity()))
		}
		base := p.baseURL()
		if u, err := whatwgurl.Parse(base); err != nil || u.Scheme() == "" || u.Host() == "" {
			return fail(ErrBaseURL, fmt.Sprintf("%q is not an absolute URL", truncate(base)))
		}
		up, err := compileURLPattern(expr, base)
		if err != nil {
			return fail(ErrSyntax, err.Error())
		}
		return Selector{kind: URLPattern, expr: expr, c: &compiled{id: rand.Uint64(), up: up, base: base}}, nil
	}
}

// compileTemplate parses an RFC 6570 template and returns the regular
// expression the reference hub matches topics with, or nil when the
// template has no expression (it then matches only its own text).
func compileTemplate(expr string) (re *regexp.Regexp, err error) {
	defer func() {
		// Template.Regexp uses regexp.MustCompile; turn a panic (for
		// instance a repeat count over RE2's limit) into an error.
		if r := recover(); r != nil {
			re, err = nil, fmt.Errorf("cannot compile template: %v", r)
		}
	}()
	tpl, err := uritemplate.New(expr)
	if err != nil {
		return nil, err
	}
	if len(tpl.Varnames()) == 0 {
		return nil, nil
	}
	return tpl.Regexp(), nil
}

// compileURLPattern compiles a WHATWG URL Pattern, resolving it against
// base only if it is relative (has no protocol). Draft-08 uses the hub URL
// as the base for relative patterns only; the URL Pattern standard would
// also resolve the non-absolute path of an absolute pattern against the
// base's path, turning "urn:*" into "urn:/.well-known/*". The library's
// errors can embed a dump of its tokenizer state; keep messages short.
func compileURLPattern(expr, base string) (up *urlpattern.URLPattern, err error) {
	defer func() {
		if r := recover(); r != nil {
			up, err = nil, fmt.Errorf("cannot compile URL pattern: %v", r)
		}
	}()
	up, err = urlpattern.New(expr, "", nil)
	if errors.Is(err, urlpattern.ErrNoBaseURL) {
		up, err = urlpattern.New(expr, base, nil)
	}
	if err != nil {
		if errors.Is(err, urlpattern.ErrType) {
			return nil, errors.New("malformed URL pattern")
		}
		msg := err.Error()
		if len(msg) > 200 {
			msg = truncate(msg)
		}
		return nil, errors.New(msg)
	}
	return up, nil
}
