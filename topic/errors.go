package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors, matched with [errors.Is]. Parse functions return them
// wrapped in a [*ParseError] that says which selector failed and why.
var (
	// ErrEmpty reports an empty selector.
	ErrEmpty = errors.New("empty selector")
	// ErrTooLong reports a selector longer than the parser's MaxLength.
	ErrTooLong = errors.New("selector too long")
	// ErrInvalidUTF8 reports text that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrForbiddenChar reports a C0 or C1 control character, DEL, or a
	// Unicode format character (general category Cf).
	ErrForbiddenChar = errors.New("forbidden character")
	// ErrSyntax reports a template or URL pattern that does not parse.
	ErrSyntax = errors.New("invalid syntax")
	// ErrTooComplex reports a template or URL pattern whose estimated
	// complexity exceeds the parser's MaxComplexity.
	ErrTooComplex = errors.New("selector too complex")
	// ErrTooMany reports a list of selectors longer than the parser's
	// MaxCount.
	ErrTooMany = errors.New("too many selectors")
	// ErrKind reports a Kind that is not one of the defined kinds.
	ErrKind = errors.New("unknown selector kind")
	// ErrBaseURL reports a Parser.BaseURL that is not an absolute URL.
	ErrBaseURL = errors.New("invalid base URL")
)

// ParseError describes a selector that failed to parse.
type ParseError struct {
	// Kind is the kind the selector was parsed as.
	Kind Kind
	// Expr is the selector text.
	Expr string
	// Index is the position of the selector in the list given to
	// [Parser.ParseSet] or [Parser.ParseDraft07Set], or -1.
	Index int
	// Err is one of the package's sentinel errors.
	Err error
	// Detail says more about the failure, or is empty.
	Detail string
}

// Error returns a one-line description with the selector text quoted and
// truncated.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("topic: ")
	if e.Kind != 0 || e.Expr != "" {
		fmt.Fprintf(&b, "%s selector ", e.Kind)
		if e.Index >= 0 {
			fmt.Fprintf(&b, "#%d ", e.Index)
		}
		fmt.Fprintf(&b, "%q: ", truncate(e.Expr))
	}
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *ParseError) Unwrap() error { return e.Err }

// maxQuoted bounds the selector text quoted in error messages.
const maxQuoted = 64

// truncate shortens s for an error message, cutting on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// ValidateText reports whether s may be used as a topic or a selector: it
// must be valid UTF-8 and must not contain C0 (U+0000–U+001F) or C1
// (U+0080–U+009F) control characters, U+007F (DEL), or Unicode format
// characters (general category Cf, such as bidirectional and zero-width
// controls), as Mercure draft-08 requires of topics and matchers. The error
// wraps [ErrInvalidUTF8] or [ErrForbiddenChar] and gives the byte offset.
func ValidateText(s string) error {
	if detail, err := checkText(s); err != nil {
		return fmt.Errorf("%w: %s", err, detail)
	}
	return nil
}

// checkText implements ValidateText, returning the detail and the sentinel
// error apart.
func checkText(s string) (detail string, err error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return fmt.Sprintf("U+%04X at byte %d", c, i), ErrForbiddenChar
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return fmt.Sprintf("at byte %d", i), ErrInvalidUTF8
		}
		if r <= 0x9f || unicode.Is(unicode.Cf, r) {
			return fmt.Sprintf("U+%04X at byte %d", r, i), ErrForbiddenChar
		}
		i += size
	}
	return "", nil
}
