package topic

import (
	"fmt"
	"testing"
)

var benchSelectors = []struct {
	name  string
	kind  Kind
	expr  string
	topic string
}{
	{"any", Any, "*", "https://example.com/books/123"},
	{"exact", Exact, "https://example.com/books/123", "https://example.com/books/123"},
	{"template", Template, "https://example.com/books/{id}", "https://example.com/books/123"},
	{"template-miss", Template, "https://example.com/books/{id}", "https://example.com/authors/123"},
	{"template-query", Template, "https://example.com/books/{id}{?page,sort}", "https://example.com/books/123?page=2&sort=asc"},
	{"urlpattern", URLPattern, "https://example.com/books/:id", "https://example.com/books/123"},
	{"urlpattern-miss", URLPattern, "https://example.com/books/:id", "https://example.com/authors/123"},
	{"urlpattern-relative", URLPattern, "/books/:id", "/books/123"},
	{"urlpattern-regexp", URLPattern, "https://example.com/books/:id(\\d+)/*", "https://example.com/books/123/chapters/4"},
}

// BenchmarkMatch measures Selector.Match, uncached, per kind.
func BenchmarkMatch(b *testing.B) {
	p := Parser{BaseURL: "https://example.com/.well-known/mercure"}
	for _, bs := range benchSelectors {
		s := mustParse(b, p, bs.kind, bs.expr)
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s.Match(bs.topic)
			}
		})
	}
}

// BenchmarkCacheHit measures Cache.Match when the result is cached.
func BenchmarkCacheHit(b *testing.B) {
	p := Parser{BaseURL: "https://example.com/.well-known/mercure"}
	for _, bs := range benchSelectors {
		if bs.kind != Template && bs.kind != URLPattern {
			continue
		}
		s := mustParse(b, p, bs.kind, bs.expr)
		c := NewCache(1 << 16)
		c.Match(s, bs.topic)
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.Match(s, bs.topic)
			}
		})
		b.Run(bs.name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					c.Match(s, bs.topic)
				}
			})
		})
	}
}

// BenchmarkCacheHitSpread measures hits over many distinct keys, so that
// lookups miss the CPU caches the way a busy hub's would.
func BenchmarkCacheHitSpread(b *testing.B) {
	s := mustParse(b, Parser{}, URLPattern, "https://example.com/books/:id")
	const n = 1 << 14
	topics := make([]string, n)
	c := NewCache(2 * n)
	for i := range topics {
		topics[i] = fmt.Sprintf("https://example.com/books/%d", i)
		c.Match(s, topics[i])
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Match(s, topics[i&(n-1)])
			i += 7919
		}
	})
}

// BenchmarkCacheMiss measures a miss that evicts: compute plus insert.
func BenchmarkCacheMiss(b *testing.B) {
	s := mustParse(b, Parser{}, Template, "https://example.com/books/{id}")
	const n = 1 << 12
	topics := make([]string, n)
	for i := range topics {
		topics[i] = fmt.Sprintf("https://example.com/books/%d", i)
	}
	c := NewCache(256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Match(s, topics[i&(n-1)])
		i++
	}
}

// BenchmarkSetMatchAny measures a 10-selector subscription against an
// update with two topics, where only the last selector matches.
func BenchmarkSetMatchAny(b *testing.B) {
	var specs []Spec
	for i := range 8 {
		specs = append(specs, Spec{Exact, fmt.Sprintf("https://example.com/authors/%d", i)})
	}
	specs = append(specs, Spec{Template, "https://example.com/authors/{id}/books"}, Spec{URLPattern, "https://example.com/books/:id"})
	set, err := Parser{}.ParseSet(specs)
	if err != nil {
		b.Fatal(err)
	}
	topics := []string{"https://example.com/books/1", "https://example.com/books/1.jsonld"}
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			set.MatchAny(topics)
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := NewCache(1024)
		b.ReportAllocs()
		for b.Loop() {
			set.MatchAnyCached(c, topics)
		}
	})
}

// BenchmarkParse measures parsing and compiling one selector per kind.
func BenchmarkParse(b *testing.B) {
	for _, bs := range benchSelectors {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bs.kind, bs.expr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWorstCase measures the most expensive selectors the default
// complexity limit admits against a 1000-byte topic built to keep every
// alternative alive.
func BenchmarkWorstCase(b *testing.B) {
	long := "https://example.com"
	for len(long) < 1000 {
		long += "/a,b"
	}
	manyExprs := "https://example.com"
	for templateComplexity(manyExprs+"{+a}") <= DefaultMaxComplexity {
		manyExprs += "{+a}"
	}
	manyVars := "https://example.com/{a"
	for templateComplexity(manyVars+",a}") <= DefaultMaxComplexity {
		manyVars += ",a"
	}
	manyVars += "}"
	stars := "https://example.com"
	for urlPatternComplexity(stars+"/*") <= DefaultMaxComplexity {
		stars += "/*"
	}
	names := "https://example.com"
	for i := 0; urlPatternComplexity(names+fmt.Sprintf("/:a%d*", i)) <= DefaultMaxComplexity; i++ {
		names += fmt.Sprintf("/:a%d*", i)
	}
	for _, bs := range []struct {
		name string
		kind Kind
		expr string
	}{
		{"template-exprs", Template, manyExprs},
		{"template-vars", Template, manyVars},
		{"urlpattern-wildcards", URLPattern, stars},
		{"urlpattern-names", URLPattern, names},
	} {
		s := mustParse(b, Parser{}, bs.kind, bs.expr)
		for _, topic := range []string{long, long + "{"} {
			b.Run(fmt.Sprintf("%s/%d", bs.name, len(topic)), func(b *testing.B) {
				for b.Loop() {
					s.Match(topic)
				}
			})
		}
	}
}
