package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// pubConfig is herald pub's configuration.
type pubConfig struct {
	hub      string
	topics   multiFlag
	data     string
	dataFile string
	id       string
	typ      string
	retry    string
	private  bool
	final    bool
	token    string
	timeout  time.Duration
}

func (c *pubConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.hub, "hub", "", "Mercure hub URL to publish to (required)")
	fs.Var(&c.topics, "topic", "topic of the update (repeatable; at least one)")
	fs.StringVar(&c.data, "data", "", "the update's data (default: --data-file, else standard input)")
	fs.StringVar(&c.dataFile, "data-file", "", "read the update's data from this file (- for standard input)")
	fs.StringVar(&c.id, "id", "", "the update's ID (default: the hub assigns one)")
	fs.StringVar(&c.typ, "type", "", "the SSE event type (default: message)")
	fs.StringVar(&c.retry, "retry", "", "the reconnection time for subscribers: milliseconds, or a duration such as 5s")
	fs.BoolVar(&c.private, "private", false, "a private update: only subscribers whose token allows one of its topics receive it")
	fs.BoolVar(&c.final, "final", false, "the last update on its topics: the hub then closes streams that only follow finished topics and answers their reconnection with 204")
	fs.StringVar(&c.token, "token", "", "publisher token, sent as Authorization: Bearer <token>")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up if the hub has not answered within this long")
}

const pubUsage = `Usage: herald pub --hub URL --topic T [--topic T2…] [--data D | --data-file F] [flags]

Publishes one update to a Mercure hub and prints its ID. Without --data or
--data-file the data is read from standard input. Data read from a file or
standard input loses one trailing line break ("echo hello | herald pub" sends
"hello"). Every flag can also be set in the environment: --token is
HERALD_TOKEN, --hub is HERALD_HUB.

Exit status: 0 when the hub accepted the update; 1 when it refused it (4xx:
check the token, topics and fields; the hub's message is printed); 2 on a
usage error; 3 when the hub could not be reached, did not answer in time or
failed (5xx): trying again later may work.

Flags:
`

// Exit statuses of herald pub.
const (
	pubExitRefused     = 1
	pubExitUsage       = 2
	pubExitUnavailable = 3
)

func runPub(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "pub", pubUsage)
	var cfg pubConfig
	cfg.flags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return parseExit(err) // pubExitUsage for a bad flag
	}
	if err := applyEnv(fs, e.getenv); err != nil {
		fmt.Fprintln(e.stderr, "herald pub:", err)
		return pubExitUsage
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true }) // includes the environment's
	form, err := cfg.form(pos, given, e.stdin)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald pub:", err)
		return pubExitUsage
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.hub, strings.NewReader(form.Encode()))
	if err != nil {
		fmt.Fprintln(e.stderr, "herald pub:", err)
		return pubExitUsage
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cfg.token != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.token)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintln(e.stderr, "herald pub:", err)
		return pubExitUnavailable
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		fmt.Fprintln(e.stderr, "herald pub: reading the hub's answer:", err)
		return pubExitUnavailable
	}
	msg := strings.TrimSpace(string(body))
	if resp.StatusCode/100 != 2 {
		s := "herald pub: hub answered " + resp.Status
		if msg != "" {
			s += ": " + msg
		}
		fmt.Fprintln(e.stderr, s)
		if resp.StatusCode >= 500 {
			return pubExitUnavailable
		}
		return pubExitRefused
	}
	fmt.Fprintln(e.stdout, msg)
	return 0
}

// form checks the flags and builds the publish request's form.
func (cfg *pubConfig) form(pos []string, given map[string]bool, stdin io.Reader) (url.Values, error) {
	if len(pos) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (the data goes in --data)", pos[0])
	}
	if cfg.hub == "" {
		return nil, errors.New("--hub is required")
	}
	if u, err := url.Parse(cfg.hub); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--hub %q: want an http or https URL", cfg.hub)
	}
	if len(cfg.topics) == 0 {
		return nil, errors.New("at least one --topic is required")
	}
	if cfg.timeout <= 0 {
		return nil, errors.New("--timeout must be positive")
	}
	var data string
	switch {
	case given["data"] && given["data-file"]:
		return nil, errors.New("give --data or --data-file, not both")
	case given["data"]:
		data = cfg.data
	default:
		var r io.Reader = stdin
		if cfg.dataFile != "" && cfg.dataFile != "-" {
			f, err := os.Open(cfg.dataFile)
			if err != nil {
				return nil, err
			}
			defer f.Close()
			r = f
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("reading the data: %w", err)
		}
		data = string(b)
		if strings.HasSuffix(data, "\r\n") {
			data = data[:len(data)-2]
		} else {
			data = strings.TrimSuffix(data, "\n")
		}
	}
	f := url.Values{"topic": cfg.topics, "data": {data}}
	if cfg.id != "" {
		f.Set("id", cfg.id)
	}
	if cfg.typ != "" {
		f.Set("type", cfg.typ)
	}
	if cfg.retry != "" {
		ms, err := parseRetryFlag(cfg.retry)
		if err != nil {
			return nil, err
		}
		f.Set("retry", ms)
	}
	if cfg.private {
		f.Set("private", "on")
	}
	if cfg.final {
		f.Set("final", "on")
	}
	return f, nil
}

// parseRetryFlag reads --retry: ASCII digits (milliseconds) or a Go
// duration, and returns milliseconds as digits.
func parseRetryFlag(s string) (string, error) {
	if _, err := strconv.ParseUint(s, 10, 64); err == nil && !strings.HasPrefix(s, "+") {
		return s, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return "", fmt.Errorf("invalid --retry %q: want milliseconds (5000) or a duration (5s)", s)
	}
	return strconv.FormatInt(d.Milliseconds(), 10), nil
}
