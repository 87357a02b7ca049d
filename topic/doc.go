// Package topic parses Mercure topic selectors and matches them against
// topics.
//
// A selector is what a subscriber asks for (a topic or match query
// parameter) or what an access token grants (a publish or subscribe claim).
// Four kinds exist:
//
//   - [Any], the reserved wildcard "*", matches every topic. Draft-08
//     recognises "*" before the matcher type is resolved, so "*" parsed as
//     any kind yields Any.
//   - [Exact] compares the topic byte for byte, without normalisation. This
//     is the draft-08 "exact" matcher type (the match and match_exact query
//     parameters) and the draft-07 plain-string selector.
//   - [Template] is a draft-07 RFC 6570 URI template such as
//     "https://example.com/books/{id}". It matches the topic equal to the
//     template text and any topic its regular expression accepts, the way
//     the Mercure reference hub does.
//   - [URLPattern] is a draft-08 WHATWG URL Pattern such as
//     "https://example.com/books/:id" (the match_urlpattern query parameter
//     and the "urlpattern" match_type). Relative patterns and relative topics
//     are resolved against the hub URL given in [Parser.BaseURL].
//
// Parsing validates the text (valid UTF-8; no C0, C1, DEL or Unicode format
// characters), bounds its length ([DefaultMaxLength]) and its complexity
// ([DefaultMaxComplexity]), and compiles templates and URL patterns once, so
// that matching never parses again. Every compiled matcher runs on Go's RE2
// engine, whose running time is linear in the length of the topic; the
// complexity bound caps the factor.
//
// Matching templates and URL patterns costs from hundreds of nanoseconds to
// several microseconds. A [Cache] memoises the results per selector and topic,
// is bounded in entries, and answers a hit without taking a lock and without
// allocating, so it can sit on the fan-out path of a hub.
package topic
