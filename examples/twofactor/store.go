package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// A State is where a login challenge stands. The only transitions are
// pending → approved → used, pending → denied, and (implicitly, by time)
// pending or approved → expired.
type State string

// Challenge states.
const (
	Pending  State = "pending"  // waiting for the phone
	Approved State = "approved" // the phone approved; the browser may finish once
	Denied   State = "denied"   // the phone denied; final
	Used     State = "used"     // the browser finished the login; final
	Expired  State = "expired"  // reported, never stored: Expires has passed
)

// A Challenge is one login waiting for its second factor.
type Challenge struct {
	ID      string    `json:"id"`               // unguessable (256 bits); names the topic and the approval link
	User    string    `json:"user"`             // who passed the password step
	Code    string    `json:"code"`             // short code shown on both screens, to compare
	Binding string    `json:"binding"`          // SHA-256 of the secret in the browser's flow cookie
	CSRF    string    `json:"csrf"`             // token the waiting page sends back with its finishing POST
	State   State     `json:"state"`            // as stored; see StateAt for expiry
	Created time.Time `json:"created"`          // when the password step passed
	Expires time.Time `json:"expires"`          // when the challenge stops being answerable
	Decided time.Time `json:"decided,omitzero"` // when the phone approved or denied; zero before

	// From describes the browser that asked (address and user agent), for
	// the phone to show.
	FromAddr  string `json:"from_addr"`
	FromAgent string `json:"from_agent"`

	// PendingEvent is the id of the update published when the challenge was
	// created: the waiting page's EventSource resumes after it, so an
	// approval that comes before the page subscribes is not missed.
	PendingEvent string `json:"pending_event"`
}

// Topic is the private Herald topic of the challenge.
func (c *Challenge) Topic() string { return TopicPrefix + c.ID }

// TopicPrefix starts every challenge topic.
const TopicPrefix = "urn:herald:twofactor:challenge:"

// StateAt is the challenge's state at now: a pending or approved challenge
// past its expiry is Expired.
func (c *Challenge) StateAt(now time.Time) State {
	if (c.State == Pending || c.State == Approved) && !now.Before(c.Expires) {
		return Expired
	}
	return c.State
}

// A Session is a signed-in browser: a web session (after both factors) or
// a device session (the phone that approves).
type Session struct {
	User    string      `json:"user"`    // who signed in
	Kind    SessionKind `json:"kind"`    // what the session may do
	CSRF    string      `json:"csrf"`    // per-session token for the session's forms
	Created time.Time   `json:"created"` // when it was signed in
	Expires time.Time   `json:"expires"` // when it ends
}

// A SessionKind says what a session may do.
type SessionKind string

// Session kinds.
const (
	WebSession    SessionKind = "web"    // fully signed in: both factors
	DeviceSession SessionKind = "device" // the phone: may approve or deny its user's challenges
)

// Errors of a Store.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict means the challenge is no longer in the state the
	// transition needs: it was already decided, used, or has expired.
	ErrConflict = errors.New("the request is no longer in that state")
)

// A Store keeps challenges and sessions. The memory store serves one
// process; the Redis store lets several instances of the app share them.
// Implementations must make Transition atomic: two approvals of one
// challenge, on any instances, must not both succeed.
type Store interface {
	// PutChallenge stores a new challenge; it is forgotten some time after
	// it expires.
	PutChallenge(ctx context.Context, c *Challenge) error
	// Challenge returns the challenge with this id, or ErrNotFound.
	Challenge(ctx context.Context, id string) (*Challenge, error)
	// Transition moves the challenge from state from to state to, if it is
	// in state from and not expired at now; otherwise it returns
	// ErrConflict and the challenge as it is (or ErrNotFound).
	Transition(ctx context.Context, id string, from, to State, now time.Time) (*Challenge, error)

	// PutSession stores a session under the hash of its secret cookie
	// value, so that the store never holds what a cookie needs.
	PutSession(ctx context.Context, key string, s *Session) error
	// Session returns the live session stored under key, or ErrNotFound.
	Session(ctx context.Context, key string) (*Session, error)
	// DeleteSession forgets a session.
	DeleteSession(ctx context.Context, key string) error

	// Close releases the store's resources.
	Close() error
}

// keepAfterExpiry is how long a store keeps a challenge after it expired,
// so that a late page or phone is told "expired" rather than "unknown".
const keepAfterExpiry = 10 * time.Minute

// memoryStore is a Store for one process.
type memoryStore struct {
	mu         sync.Mutex
	challenges map[string]*Challenge
	sessions   map[string]*Session
	puts       int
}

func newMemoryStore() *memoryStore {
	return &memoryStore{challenges: map[string]*Challenge{}, sessions: map[string]*Session{}}
}

func (m *memoryStore) PutChallenge(_ context.Context, c *Challenge) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *c
	m.challenges[c.ID] = &cp
	m.sweepLocked(time.Now())
	return nil
}

func (m *memoryStore) Challenge(_ context.Context, id string) (*Challenge, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.challenges[id]
	if !ok {
		return nil, ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func (m *memoryStore) Transition(_ context.Context, id string, from, to State, now time.Time) (*Challenge, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.challenges[id]
	if !ok {
		return nil, ErrNotFound
	}
	if c.StateAt(now) != from {
		cp := *c
		return &cp, ErrConflict
	}
	c.State, c.Decided = to, now
	cp := *c
	return &cp, nil
}

func (m *memoryStore) PutSession(_ context.Context, key string, s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *s
	m.sessions[key] = &cp
	m.sweepLocked(time.Now())
	return nil
}

func (m *memoryStore) Session(_ context.Context, key string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok || !time.Now().Before(s.Expires) {
		return nil, ErrNotFound
	}
	cp := *s
	return &cp, nil
}

func (m *memoryStore) DeleteSession(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, key)
	return nil
}

func (m *memoryStore) Close() error { return nil }

// sweepLocked drops expired entries every so many writes, so that memory
// stays bounded by the live entries without a timer goroutine.
func (m *memoryStore) sweepLocked(now time.Time) {
	m.puts++
	if m.puts < 256 {
		return
	}
	m.puts = 0
	for id, c := range m.challenges {
		if now.Sub(c.Expires) > keepAfterExpiry {
			delete(m.challenges, id)
		}
	}
	for k, s := range m.sessions {
		if !now.Before(s.Expires) {
			delete(m.sessions, k)
		}
	}
}

// randomToken returns n random bytes, base64url without padding.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+
		// aborts the program itself rather than return an error).
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// shortCode returns a six-digit code, "123 456", drawn uniformly.
func shortCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	s := fmt.Sprintf("%06d", n.Int64())
	return s[:3] + " " + s[3:]
}

// hashSecret is how secrets from cookies are kept in stores: a leak of the
// store does not hand out working cookies.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
