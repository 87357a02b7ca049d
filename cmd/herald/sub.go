package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/client"
	"github.com/heraldpush/herald/sse"
)

// subConfig is herald sub's configuration.
type subConfig struct {
	hub         string
	topics      multiFlag
	matches     multiFlag
	token       string
	headers     multiFlag
	lastEventID string
	json        bool
	count       int
	timeout     time.Duration
	readTimeout time.Duration
	noReconnect bool
}

func (c *subConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.hub, "hub", "", "Mercure hub URL to subscribe to with --topic or --match (instead of URL)")
	fs.Var(&c.topics, "topic", "topic or URI template to subscribe to (repeatable): adds topic=… to the URL")
	fs.Var(&c.matches, "match", "exact topic to subscribe to the Mercure draft-08 way (repeatable): adds match=… to the URL")
	fs.StringVar(&c.token, "token", "", "send Authorization: Bearer <token>")
	fs.Var(&c.headers, "header", "extra request header 'Name: value' (repeatable)")
	fs.StringVar(&c.lastEventID, "last-event-id", "", "resume after this event ID (sent as Last-Event-ID)")
	fs.BoolVar(&c.json, "json", false, `print one JSON object per event per line: {"type":…,"data":…,"id":…}`)
	fs.IntVar(&c.count, "count", 0, "exit 0 after this many events (0: no limit)")
	fs.DurationVar(&c.timeout, "timeout", 0, "stop after this long (0: never); exit 1 if --count was not reached by then")
	fs.DurationVar(&c.readTimeout, "read-timeout", 0, "reconnect when nothing, not even a heartbeat, arrives for this long (0: off)")
	fs.BoolVar(&c.noReconnect, "no-reconnect", false, "exit when the stream ends instead of reconnecting")
}

const subUsage = `Usage: herald sub [flags] [URL]

Prints the events of any Server-Sent Events stream, reconnecting as a
browser's EventSource does (with Last-Event-ID) until interrupted. Give the
stream's URL, or a Mercure hub with --hub (or as URL) and --topic or
--match. Every flag can also be set in the environment: --token is
HERALD_TOKEN, --last-event-id is HERALD_LAST_EVENT_ID.

Exit status: 0 when --count events arrived, the stream ended with
--no-reconnect, --timeout passed without --count, or on interrupt; 1 when
the server refused the stream (any status but 200, including 204, which
means "do not reconnect", or a response that is not text/event-stream), the
connection failed with --no-reconnect, or --timeout passed before --count
events; 2 on a usage error.

Flags:
`

func runSub(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "sub", subUsage)
	var cfg subConfig
	cfg.flags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if err := applyEnv(fs, e.getenv); err != nil {
		fmt.Fprintln(e.stderr, "herald sub:", err)
		return 2
	}
	target, opts, err := cfg.client(pos)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald sub:", err)
		return 2
	}
	c, err := client.New(target, opts)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald sub:", err)
		return 2
	}

	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	c.OnOpen(func(*http.Response) {
		fmt.Fprintf(e.stderr, "herald sub: connected to %s\n", target)
	})
	c.OnError(func(err error) {
		var re *client.RetryError
		if errors.As(err, &re) {
			fmt.Fprintln(e.stderr, "herald sub:", err)
		}
	})

	n := 0
	var line bytes.Buffer
	for ev, err := range c.Events(ctx) {
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && cfg.timeout > 0 {
				if cfg.count > 0 {
					fmt.Fprintf(e.stderr, "herald sub: timed out after %v with %d of %d events\n", cfg.timeout, n, cfg.count)
					return 1
				}
				return 0
			}
			if errors.Is(err, context.Canceled) {
				return 0 // interrupted: how one stops tailing
			}
			fmt.Fprintln(e.stderr, "herald sub:", err)
			return 1
		}
		line.Reset()
		if cfg.json {
			appendJSONEvent(&line, ev)
		} else {
			appendHumanEvent(&line, ev)
		}
		if _, err := e.stdout.Write(line.Bytes()); err != nil {
			fmt.Fprintln(e.stderr, "herald sub: writing output:", err)
			return 1
		}
		if n++; cfg.count > 0 && n >= cfg.count {
			break
		}
	}
	return 0
}

// client turns the flags and the positional arguments into a stream URL
// and client options.
func (cfg *subConfig) client(pos []string) (string, *client.Options, error) {
	if len(pos) > 1 {
		return "", nil, fmt.Errorf("one URL at most, got %q", pos)
	}
	target := cfg.hub
	if len(pos) == 1 {
		if cfg.hub != "" {
			return "", nil, errors.New("give the URL as an argument or with --hub, not both")
		}
		target = pos[0]
	}
	if target == "" {
		return "", nil, errors.New("no URL: give the stream's URL, or --hub and --topic")
	}
	if cfg.count < 0 {
		return "", nil, errors.New("--count must not be negative")
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", nil, fmt.Errorf("invalid URL %q: %v", target, err)
	}
	if len(cfg.topics) > 0 || len(cfg.matches) > 0 {
		q := u.Query()
		for _, t := range cfg.topics {
			q.Add("topic", t)
		}
		for _, m := range cfg.matches {
			q.Add("match", m)
		}
		u.RawQuery = q.Encode()
		target = u.String()
	}
	h, err := parseHeaders(cfg.headers)
	if err != nil {
		return "", nil, err
	}
	if cfg.token != "" {
		h.Set("Authorization", "Bearer "+cfg.token)
	}
	opts := &client.Options{
		Header:      h,
		LastEventID: cfg.lastEventID,
		ReadTimeout: cfg.readTimeout,
	}
	if cfg.noReconnect {
		opts.MaxRetries = -1
	}
	return target, opts, nil
}

// parseHeaders reads "Name: value" flags.
func parseHeaders(hs []string) (http.Header, error) {
	h := make(http.Header)
	for _, s := range hs {
		k, v, ok := strings.Cut(s, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t\r\n") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("invalid --header %q: want 'Name: value'", s)
		}
		h.Add(k, strings.TrimSpace(v))
	}
	return h, nil
}

// jsonEvent is the --json output: exactly these keys, in this order.
type jsonEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
	ID   string `json:"id"`
}

// appendJSONEvent writes ev as one line of JSON.
func appendJSONEvent(b *bytes.Buffer, ev sse.Event) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	// Encoding three strings cannot fail; Encode adds the newline.
	_ = enc.Encode(jsonEvent{Type: ev.Type, Data: ev.Data, ID: ev.ID})
}

// appendHumanEvent writes ev for a person: a header line with the type
// and ID, the data, and a blank line.
func appendHumanEvent(b *bytes.Buffer, ev sse.Event) {
	b.WriteString("[" + ev.Type + "]")
	if ev.ID != "" {
		b.WriteString(" id: " + ev.ID)
	}
	b.WriteByte('\n')
	b.WriteString(ev.Data)
	b.WriteString("\n\n")
}

// multiFlag is a repeatable flag whose values are kept whole (topics and
// headers may hold commas).
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, " ") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// parseInterspersed parses flags that may come before and after the
// positional arguments ("herald sub URL --json"), and returns those.
// Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// Parse stops at the first non-flag or after "--".
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
