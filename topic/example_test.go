package topic_test

import (
	"errors"
	"fmt"

	"github.com/heraldpush/herald/topic"
)

func ExampleParse() {
	s, err := topic.Parse(topic.URLPattern, "https://example.com/books/:id")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Kind(), s.Match("https://example.com/books/1"))
	fmt.Println(s.Kind(), s.Match("https://example.com/books/1/reviews"))

	// Draft-08 reserves "*" as the wildcard whatever the matcher type, so
	// match=* subscribes to everything.
	all, _ := topic.Parse(topic.Exact, "*")
	fmt.Println(all.Kind(), all.Match("urn:anything"))

	_, err = topic.Parse(topic.Exact, "https://example.com/\u202egnp.exe")
	fmt.Println(errors.Is(err, topic.ErrForbiddenChar))
	// Output:
	// urlpattern true
	// urlpattern false
	// any true
	// true
}

func ExampleParseDraft07() {
	for _, expr := range []string{"*", "https://example.com/books/{id}", "https://example.com/books/1", "https://example.com/{oops"} {
		s, err := topic.ParseDraft07(expr)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-32s %-8s %v\n", expr, s.Kind(), s.Match("https://example.com/books/1"))
	}
	// Output:
	// *                                any      true
	// https://example.com/books/{id}   template true
	// https://example.com/books/1      exact    true
	// https://example.com/{oops        exact    false
}

func ExampleParser() {
	// Draft-08 resolves relative URL patterns and relative topics against
	// the hub URL.
	p := topic.Parser{BaseURL: "https://example.com/.well-known/mercure"}
	s, err := p.Parse(topic.URLPattern, "/.well-known/mercure/subscriptions/:type/:match/:subscriber")
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Match("/.well-known/mercure/subscriptions/exact/foo/alice"))
	fmt.Println(s.Match("https://example.com/.well-known/mercure/subscriptions/exact/foo/alice"))
	fmt.Println(s.Match("https://example.org/.well-known/mercure/subscriptions/exact/foo/alice"))
	// Output:
	// true
	// true
	// false
}

func ExampleParser_ParseSet() {
	// A draft-08 subscription: ?match=...&match_urlpattern=...
	set, err := topic.Parser{}.ParseSet([]topic.Spec{
		{Kind: topic.Exact, Expr: "https://example.com/foo"},
		{Kind: topic.URLPattern, Expr: "https://example.com/bar/:id"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(set.Match("https://example.com/foo"))
	fmt.Println(set.MatchAny([]string{"https://example.com/baz", "https://example.com/bar/7"}))
	fmt.Println(set.Match("https://example.com/baz"))

	_, err = topic.Parser{MaxCount: 1}.ParseSet(make([]topic.Spec, 2))
	fmt.Println(err)
	// Output:
	// true
	// true
	// false
	// topic: too many selectors: 2 selectors, limit 1
}

func ExampleCache() {
	c := topic.NewCache(10000)
	s, _ := topic.Parse(topic.Template, "https://example.com/books/{id}")
	fmt.Println(c.Match(s, "https://example.com/books/1")) // computed
	fmt.Println(c.Match(s, "https://example.com/books/1")) // cached
	st := c.Stats()
	fmt.Println(st.Entries, st.Misses)
	// Output:
	// true
	// true
	// 1 1
}

func ExampleSelector_Key() {
	// Intern selectors so that equal ones share one compiled matcher and
	// one set of cache entries.
	interned := make(map[topic.Key]topic.Selector)
	intern := func(s topic.Selector) topic.Selector {
		if old, ok := interned[s.Key()]; ok {
			return old
		}
		interned[s.Key()] = s
		return s
	}
	a, _ := topic.Parse(topic.URLPattern, "https://example.com/books/:id")
	b, _ := topic.Parse(topic.URLPattern, "https://example.com/books/:id")
	fmt.Println(a == b, intern(a) == intern(b))
	// Output: false true
}
