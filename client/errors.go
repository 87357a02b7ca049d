package client

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
)

var (
	// ErrNoContent is matched (with errors.Is) by the [*ResponseError] of a
	// 204 No Content response: the server's way to tell an EventSource to
	// stop reconnecting.
	ErrNoContent = errors.New("server answered 204: not reconnecting")

	// ErrReadTimeout is wrapped by the error that ends a connection on
	// which nothing, not even a heartbeat comment, arrived for
	// [Options.ReadTimeout].
	ErrReadTimeout = errors.New("read timeout")

	// ErrClosed is returned by [Client.Run] and yielded by [Client.Events]
	// when the Client has run before: a Client runs once.
	ErrClosed = errors.New("client: closed")
)

// ResponseError reports a response that did not open an event stream: a
// status other than 200, or a media type other than text/event-stream.
// Such a response stops the client for good, as it stops an EventSource,
// unless [Options.RetryResponse] says otherwise.
type ResponseError struct {
	// StatusCode and Status are the response's ("401 Unauthorized").
	StatusCode int
	Status     string
	// ContentType is the response's Content-Type header.
	ContentType string
	// Message is the start of the body of an error response, on one line:
	// a server's explanation, such as "a token is required to subscribe".
	Message string
}

// Error says what the server answered instead of a stream, with its
// message when it gave one.
func (e *ResponseError) Error() string {
	switch {
	case e.StatusCode == http.StatusNoContent:
		return ErrNoContent.Error()
	case e.StatusCode != http.StatusOK:
		s := "server answered " + e.Status
		if e.Message != "" {
			s += ": " + e.Message
		}
		return s
	case e.ContentType == "":
		return "server answered 200 without a Content-Type: not an event stream"
	default:
		return fmt.Sprintf("server answered 200 with Content-Type %q: not an event stream", e.ContentType)
	}
}

// Unwrap returns ErrNoContent for a 204 response, so that
// errors.Is(err, ErrNoContent) tells "the server said stop" apart.
func (e *ResponseError) Unwrap() error {
	if e.StatusCode == http.StatusNoContent {
		return ErrNoContent
	}
	return nil
}

// maxMessage bounds how much of an error response's body ResponseError
// keeps.
const maxMessage = 512

// newResponseError builds the error for resp, reading the start of the
// body of an error response for its message.
func newResponseError(resp *http.Response) *ResponseError {
	e := &ResponseError{
		StatusCode:  resp.StatusCode,
		Status:      resp.Status,
		ContentType: resp.Header.Get("Content-Type"),
	}
	if e.Status == "" {
		e.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxMessage))
		e.Message = oneLine(string(b))
	}
	return e
}

// oneLine makes s printable on one line: valid UTF-8, runs of white space
// and control characters turned into one space.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// RetryError is what the [Client.OnError] callbacks receive when a
// connection failed or ended and the client is about to reconnect.
type RetryError struct {
	// Err is why the connection ended: io.EOF when the server ended the
	// stream, an error wrapping ErrReadTimeout, a network error, or a
	// *ResponseError that Options.RetryResponse chose to retry.
	Err error
	// Attempt counts the reconnections since the last healthy
	// connection: 1 for the first.
	Attempt int
	// Delay is how long the client waits before reconnecting.
	Delay time.Duration
}

// Error says why the connection ended and when the client reconnects.
func (e *RetryError) Error() string {
	why := "connection failed"
	switch {
	case errors.Is(e.Err, io.EOF):
		why = "the server ended the stream"
	case e.Err != nil:
		why = e.Err.Error()
	}
	return fmt.Sprintf("%s; reconnecting in %v (attempt %d)", why, e.Delay.Round(time.Millisecond), e.Attempt)
}

// Unwrap returns the cause.
func (e *RetryError) Unwrap() error { return e.Err }
