package topic

import "regexp/syntax"

// Complexity estimates bound the work a selector can cause. RE2 matching is
// linear in the length of the topic, but the factor is the size of the
// compiled program: a 4 KiB template of a thousand "{+a}" expressions makes
// every match of a long topic take hundreds of milliseconds, and a 4 KiB URL
// pattern of "(a{1000})" groups compiles to hundreds of thousands of
// instructions. The estimates are computed from the text, before anything is
// compiled, and only count what makes a program large or ambiguous; literal
// text is bounded by the length limit instead.

// Complexity weights.
const (
	costVariable   = 16 // a template variable, URL-pattern name or wildcard
	costExpression = 8  // a template expression, beyond its variables
	costPunct      = 2  // a URL-pattern group brace or modifier
	costSaturate   = 1 << 28
)

// templateComplexity estimates the complexity of an RFC 6570 template: each
// expression costs costExpression plus costVariable per variable. An
// unterminated expression ends the scan; the template parser rejects it.
func templateComplexity(expr string) int {
	cost := 0
	for i := 0; i < len(expr); i++ {
		if expr[i] != '{' {
			continue
		}
		vars := 1
		j := i + 1
		for ; j < len(expr) && expr[j] != '}'; j++ {
			if expr[j] == ',' {
				vars++
			}
		}
		cost = saturate(cost + costExpression + mulSat(costVariable, vars))
		i = j
	}
	return cost
}

// urlPatternComplexity estimates the complexity of a WHATWG URL pattern.
// Named groups (":id") and wildcards ("*") cost costVariable. A regular
// expression group "(...)", delimited the way the URL Pattern tokenizer
// delimits it, costs costVariable plus twice its own size, since a group
// with a modifier appears twice in the generated expression.
func urlPatternComplexity(expr string) int {
	cost := 0
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '\\':
			i++
		case ':':
			if i+1 < len(expr) && isNameStart(expr[i+1]) {
				cost += costVariable
			}
		case '*':
			cost += costVariable
		case '{', '}', '+', '?':
			cost += costPunct
		case '(':
			depth, j := 1, i+1
		group:
			for ; j < len(expr); j++ {
				switch expr[j] {
				case '\\':
					j++
				case '(':
					depth++
				case ')':
					if depth--; depth == 0 {
						break group
					}
				}
			}
			if j >= len(expr) {
				// Unterminated: the URL pattern parser rejects it.
				return saturate(cost + costVariable)
			}
			cost += costVariable + mulSat(2, regexpComplexity(expr[i+1:j]))
			i = j
		}
		cost = saturate(cost)
	}
	return cost
}

// isNameStart reports whether c may start a URL-pattern group name. Any
// non-ASCII byte is accepted: over-counting is harmless.
func isNameStart(c byte) bool {
	return c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= 0x80
}

// regexpComplexity estimates the size of the program a regular expression
// compiles to, with counted repetitions multiplied out. An expression that
// RE2 cannot parse costs costVariable per byte; the URL pattern compiler
// rejects it anyway.
func regexpComplexity(src string) int {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return mulSat(costVariable, len(src))
	}
	return regexpSize(re)
}

// regexpSize walks the parsed, unsimplified expression, so that it never
// expands a repetition to measure it.
func regexpSize(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		return saturate(1 + mulSat(n, regexpSize(re.Sub[0])))
	default:
		size := 1
		for _, sub := range re.Sub {
			size = saturate(size + regexpSize(sub))
		}
		return size
	}
}

// saturate caps n at costSaturate. Callers saturate after adding at most
// a few terms, each at most costSaturate, so no sum overflows even a 32-bit
// int.
func saturate(n int) int { return min(n, costSaturate) }

// mulSat multiplies two non-negative numbers, saturating at costSaturate.
func mulSat(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a > costSaturate/b {
		return costSaturate
	}
	return a * b
}
