package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// publishers share one HTTP client with a connection per publisher.
func newPublishClient(publishers int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConns:        publishers + 4,
			MaxIdleConnsPerHost: publishers + 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// maxPublishErrors is how many network errors in a row stop a publisher.
const maxPublishErrors = 20

// publisher posts numbered updates to the hub, one request at a time.
// A refused update (429 or 503) is retried with the same sequence
// number, so a publisher's acknowledged updates are exactly 1..acked.
type publisher struct {
	id      int
	hub     string
	token   string
	topicQ  []byte // "topic=<escaped>&data="
	payload int
	run     uint32
	client  *http.Client
	lat     *latencyRecorder // publish request latency, µs

	acked    atomic.Uint64 // highest acknowledged sequence number
	rejected atomic.Int64  // 429 and 503 answers
	errs     atomic.Int64  // network errors
	late     atomic.Int64  // scheduled sends that started a full interval late

	body []byte
	data []byte
}

func newPublisher(id int, cfg *Config, run uint32, client *http.Client, lat *latencyRecorder) *publisher {
	return &publisher{
		id:      id,
		hub:     cfg.Hub,
		token:   cfg.Token,
		topicQ:  []byte("topic=" + url.QueryEscape(cfg.Topic) + "&data="),
		payload: cfg.Payload,
		run:     run,
		client:  client,
		lat:     lat,
	}
}

// errFatal marks an answer that retrying cannot fix (such as 401).
var errFatal = errors.New("fatal")

// publishNext publishes the next update, retrying refusals and network
// errors, until the hub acknowledges it.
func (p *publisher) publishNext(ctx context.Context) error {
	seq := p.acked.Load() + 1
	fails := 0
	for {
		p.data = appendPayload(p.data[:0], p.run, p.id, seq, time.Now().UnixNano(), p.payload)
		start := time.Now()
		status, retryAfter, err := p.post(ctx, p.data)
		switch {
		case err != nil && errors.Is(err, errFatal):
			return fmt.Errorf("publisher %d: %w", p.id, err)
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.errs.Add(1)
			if fails++; fails >= maxPublishErrors {
				return fmt.Errorf("publisher %d: %d errors in a row, the last: %w", p.id, fails, err)
			}
			retryAfter = 100 * time.Millisecond
		case status/100 == 2:
			p.lat.record(p.id, []int64{time.Since(start).Microseconds()})
			p.acked.Store(seq)
			return nil
		default: // 429 or 503: the hub asks the publisher to slow down
			p.rejected.Add(1)
			fails = 0
		}
		if err := sleep(ctx, retryAfter); err != nil {
			return err
		}
	}
}

// post sends one publish request and returns the status and how long to
// wait before a retry.
func (p *publisher) post(ctx context.Context, data []byte) (int, time.Duration, error) {
	p.body = append(p.body[:0], p.topicQ...)
	p.body = appendFormValue(p.body, data)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.hub, bytes.NewReader(p.body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var msg []byte
	if resp.StatusCode/100 != 2 {
		msg, _ = io.ReadAll(io.LimitReader(resp.Body, 300))
	}
	io.Copy(io.Discard, resp.Body) // keep the connection reusable
	wait := 50 * time.Millisecond
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		// Honour the hint, but keep probing: a benchmark wants to see when
		// the hub takes updates again.
		wait = min(time.Duration(s)*time.Second, time.Second)
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != 429 && resp.StatusCode != 503 {
		return resp.StatusCode, 0, fmt.Errorf("%w: publish: HTTP %s: %s", errFatal, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.StatusCode, wait, nil
}

// appendFormValue appends data form-encoded. Benchmark payloads hold
// only characters that need no escape but the space.
func appendFormValue(dst, data []byte) []byte {
	const hex = "0123456789ABCDEF"
	for _, c := range data {
		switch {
		case c == ' ':
			dst = append(dst, '+')
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hex[c>>4], hex[c&15])
		}
	}
	return dst
}

// publishCount publishes n updates back to back.
func (p *publisher) publishCount(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		if err := p.publishNext(ctx); err != nil {
			return err
		}
	}
	return nil
}

// publishPaced publishes every interval, starting after offset, until
// the time until. A publish under way at that time is finished, so that
// the hub's answer is known. A publisher that falls behind (the hub
// answers slowly) does not burst to catch up: the offered rate drops,
// which is what a hub that slows its publishers should achieve.
func (p *publisher) publishPaced(ctx context.Context, interval, offset time.Duration, until time.Time) error {
	next := time.Now().Add(offset)
	for next.Before(until) {
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
		if err := p.publishNext(ctx); err != nil {
			return err
		}
		next = next.Add(interval)
		if now := time.Now(); now.Sub(next) > interval {
			p.late.Add(1)
			next = now
		}
	}
	return nil
}

// publishPacedCount publishes n updates, one every interval.
func (p *publisher) publishPacedCount(ctx context.Context, interval, offset time.Duration, n int) error {
	next := time.Now().Add(offset)
	for i := 0; i < n; i++ {
		if err := sleepUntil(ctx, next); err != nil {
			return err
		}
		if err := p.publishNext(ctx); err != nil {
			return err
		}
		next = next.Add(interval)
		if now := time.Now(); now.Sub(next) > interval {
			p.late.Add(1)
			next = now
		}
	}
	return nil
}

// warmup publishes one warm-up update; errors other than fatal ones are
// left to the next try.
func (p *publisher) warmup(ctx context.Context) error {
	_, _, err := p.post(ctx, []byte(warmupPayload(p.run)))
	if err != nil && errors.Is(err, errFatal) {
		return err
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func sleepUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	return sleep(ctx, d)
}
