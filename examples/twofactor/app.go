package main

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/auth"
	heraldredis "github.com/heraldpush/herald/redis"
)

//go:embed web/*.html
var pagesFS embed.FS

//go:embed static
var staticFS embed.FS

// Cookie names. The hub reads auth.DefaultCookieName ("mercureAuthorization").
const (
	flowCookie   = "tf_flow"    // the browser's half of a login challenge
	webCookie    = "tf_session" // a browser signed in with both factors
	deviceCookie = "tf_device"  // the phone's device session
	hubPath      = "/.well-known/mercure"
)

// Config configures the app. Zero fields take the defaults.
type Config struct {
	// Key signs the hub tokens (HMAC-SHA256). Required; 32 random bytes.
	Key []byte
	// HubURL, when set, is a standalone Herald hub or cluster to use
	// instead of the embedded hub; it must accept tokens signed with Key.
	HubURL string
	// RedisURL, when set, keeps challenges and sessions in Redis, and is
	// the embedded hub's transport, so that several instances of the app
	// work as one.
	RedisURL string
	// RedisPrefix starts the app's Redis keys. Default "twofactor:".
	RedisPrefix string
	// PublicURL is the app's URL as browsers reach it (for the phone's
	// approval link). Default: taken from each request's Host.
	PublicURL string
	// ChallengeTTL is how long a login waits for the phone. Default 2 min.
	ChallengeTTL time.Duration
	// SessionTTL is how long sessions last. Default 12 h.
	SessionTTL time.Duration
	// HubOptions are added to the embedded hub's options.
	HubOptions []herald.Option
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// App is the two-factor login example: an http.Handler with the pages, the
// approval endpoints and the hub.
type App struct {
	cfg     Config
	store   Store
	push    pusher
	users   map[string][]byte
	pages   map[string]*template.Template
	handler http.Handler
	log     *slog.Logger
}

// New builds the app: the store and hub it needs, then the routes.
func New(ctx context.Context, cfg Config) (*App, error) {
	if len(cfg.Key) < 32 {
		return nil, errors.New("twofactor: the key must be at least 32 bytes")
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "twofactor:"
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = 2 * time.Minute
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twofactor: public URL %q: want http(s)://host[:port]", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimSuffix(u.String(), "/")
	}
	a := &App{cfg: cfg, users: demoHashes, log: cfg.Logger}
	if err := a.parsePages(); err != nil {
		return nil, err
	}

	var transport herald.Transport
	if cfg.RedisURL != "" {
		s, err := openRedisStore(ctx, cfg.RedisURL, cfg.RedisPrefix)
		if err != nil {
			return nil, err
		}
		a.store = s
		if cfg.HubURL == "" {
			t, err := heraldredis.Open(ctx, cfg.RedisURL, heraldredis.Config{Prefix: cfg.RedisPrefix + "herald:", Logger: cfg.Logger})
			if err != nil {
				s.Close()
				return nil, err
			}
			transport = t
		}
	} else {
		a.store = newMemoryStore()
	}
	if cfg.HubURL != "" {
		r, err := newRemote(cfg.HubURL, cfg.Key)
		if err != nil {
			a.store.Close()
			return nil, err
		}
		a.push = r
	} else {
		opts := append([]herald.Option{herald.WithLogger(cfg.Logger)}, cfg.HubOptions...)
		e, err := newEmbedded(cfg.Key, transport, opts...)
		if err != nil {
			if transport != nil {
				transport.Close()
			}
			a.store.Close()
			return nil, err
		}
		a.push = e
	}
	a.handler = a.routes()
	return a, nil
}

// Close stops the hub (ending its streams) and releases the store.
func (a *App) Close(ctx context.Context) error {
	err := a.push.Close(ctx)
	if serr := a.store.Close(); err == nil {
		err = serr
	}
	return err
}

// ServeHTTP serves the app.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle(hubPath, a.push)
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.loginPage)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /login/wait", a.waitPage)
	mux.HandleFunc("GET /login/status", a.status)
	mux.HandleFunc("POST /login/finish", a.finish)
	mux.HandleFunc("GET /account", a.account)
	mux.HandleFunc("POST /logout", a.logout)
	mux.HandleFunc("GET /phone", a.phoneHome)
	mux.HandleFunc("GET /phone/login", a.phoneLoginPage)
	mux.HandleFunc("POST /phone/login", a.phoneLogin)
	mux.HandleFunc("GET /approve/{id}", a.approvePage)
	mux.HandleFunc("POST /approve/{id}", a.decide)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })

	// Every state-changing request must come from this origin
	// (Sec-Fetch-Site / Origin); the forms carry per-session tokens too.
	cop := http.NewCrossOriginProtection()
	if a.cfg.PublicURL != "" {
		_ = cop.AddTrustedOrigin(a.cfg.PublicURL) // behind a proxy Host may differ
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusForbidden, "Cross-origin request refused", "This form must be sent from the app's own pages.")
	}))
	return securityHeaders(cop.Handler(mux))
}

// securityHeaders sets headers every response should have. The CSP allows
// only this origin's scripts and styles (no inline script: the pages pass
// data in data- attributes) and inline SVG images (the QR code).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		// The approval link holds the challenge id: never send it on.
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// ---- pages -------------------------------------------------------------

func (a *App) parsePages() error {
	a.pages = map[string]*template.Template{}
	names, err := fs.Glob(pagesFS, "web/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		if n == "web/layout.html" {
			continue
		}
		t, err := template.ParseFS(pagesFS, "web/layout.html", n)
		if err != nil {
			return fmt.Errorf("twofactor: page %s: %w", n, err)
		}
		a.pages[strings.TrimSuffix(strings.TrimPrefix(n, "web/"), ".html")] = t
	}
	return nil
}

// page is what every template gets.
type page struct {
	Title string
	Phone bool // the phone's pages use a narrower layout
	Data  any
}

func (a *App) render(w http.ResponseWriter, status int, name string, p page) {
	t := a.pages[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", p); err != nil {
		a.log.Error("render", "page", name, "err", err)
	}
}

// message is the data of the generic result page.
type message struct {
	Kind, Heading, Text string
	Link, LinkText      string
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	a.render(w, status, "message", page{Title: heading, Phone: strings.HasPrefix(r.URL.Path, "/approve/") || strings.HasPrefix(r.URL.Path, "/phone"),
		Data: message{Kind: "refused", Heading: heading, Text: text}})
}

// ---- cookies and sessions ---------------------------------------------

func (a *App) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(a.cfg.PublicURL, "https://")
}

func (a *App) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration, site http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: int(maxAge / time.Second),
		HttpOnly: true, Secure: a.secure(r), SameSite: site})
}

func (a *App) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, Secure: a.secure(r), SameSite: http.SameSiteStrictMode})
}

// newSession stores a session and sets its cookie. The cookie holds a
// 256-bit secret; the store holds its hash.
func (a *App) newSession(w http.ResponseWriter, r *http.Request, user string, kind SessionKind) (*Session, error) {
	secret := randomToken(32)
	now := time.Now()
	s := &Session{User: user, Kind: kind, CSRF: randomToken(32), Created: now, Expires: now.Add(a.cfg.SessionTTL)}
	if err := a.store.PutSession(r.Context(), hashSecret(secret), s); err != nil {
		return nil, err
	}
	name := webCookie
	if kind == DeviceSession {
		name = deviceCookie
	}
	// Lax, not Strict: the phone opens the approval link from its camera
	// app, a navigation Strict cookies would not follow. Every POST is
	// checked for its origin and carries the session's CSRF token.
	a.setCookie(w, r, name, secret, "/", a.cfg.SessionTTL, http.SameSiteLaxMode)
	return s, nil
}

// session returns the request's session of the given kind, or nil.
func (a *App) session(r *http.Request, kind SessionKind) *Session {
	name := webCookie
	if kind == DeviceSession {
		name = deviceCookie
	}
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return nil
	}
	s, err := a.store.Session(r.Context(), hashSecret(c.Value))
	if err != nil || s.Kind != kind {
		if err != nil && !errors.Is(err, ErrNotFound) {
			a.log.Error("session lookup", "err", err)
		}
		return nil
	}
	return s
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// ---- the desktop: password, waiting, finishing -------------------------

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	if a.session(r, WebSession) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type loginData struct {
	Action, Next, User, Error string
	Phone                     bool
}

func (a *App) loginPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "login", page{Title: "Sign in", Data: loginData{Action: "/login"}})
}

// login checks the password and starts a challenge: the first factor is
// done, the second is the phone.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	user, password := r.PostFormValue("username"), r.PostFormValue("password")
	if !checkPassword(a.users, user, password) {
		a.render(w, http.StatusUnauthorized, "login", page{Title: "Sign in",
			Data: loginData{Action: "/login", User: user, Error: "Wrong username or password."}})
		return
	}
	now := time.Now()
	secret := randomToken(32)
	c := &Challenge{
		ID:        randomToken(32), // 256 bits: the topic name and the approval link
		User:      user,
		Code:      shortCode(),
		Binding:   hashSecret(secret),
		CSRF:      randomToken(32),
		State:     Pending,
		Created:   now,
		Expires:   now.Add(a.cfg.ChallengeTTL),
		FromAddr:  clientAddr(r),
		FromAgent: truncate(r.UserAgent(), 200),
	}
	// The first update on the challenge's topic: the waiting page's
	// EventSource resumes after it, so whatever comes next reaches it even
	// if the phone is faster than the page.
	pending := &herald.Update{Topics: []string{c.Topic()}, Type: "2fa-pending", Private: true,
		Data: `{"state":"pending"}`}
	if err := a.push.Publish(r.Context(), pending); err != nil {
		a.log.Error("publish pending", "err", err)
		a.fail(w, r, http.StatusServiceUnavailable, "Try again", "The sign-in service is not available right now.")
		return
	}
	c.PendingEvent = pending.ID
	if err := a.store.PutChallenge(r.Context(), c); err != nil {
		a.log.Error("store challenge", "err", err)
		a.fail(w, r, http.StatusServiceUnavailable, "Try again", "The sign-in service is not available right now.")
		return
	}
	// The subscriber token: it may receive the private updates of this
	// one topic, nothing else, and dies with the challenge. It goes in an
	// HttpOnly, SameSite=Strict cookie limited to the hub's path: page
	// scripts cannot read it, other sites cannot make the browser send it,
	// and it never appears in a URL (or a log of one).
	tok, err := auth.SignHMAC(a.cfg.Key, auth.TokenSpec{Subscribe: []string{c.Topic()}, TTL: a.cfg.ChallengeTTL})
	if err != nil {
		a.fail(w, r, http.StatusInternalServerError, "Error", "Could not start the sign-in.")
		return
	}
	a.setCookie(w, r, auth.DefaultCookieName, tok, hubPath, a.cfg.ChallengeTTL, http.SameSiteStrictMode)
	// The browser's half of the challenge: only this browser can finish it.
	a.setCookie(w, r, flowCookie, c.ID+"."+secret, "/login", a.cfg.ChallengeTTL+keepAfterExpiry, http.SameSiteStrictMode)
	a.log.Info("password ok, waiting for the phone", "user", user, "challenge", c.ID[:8])
	http.Redirect(w, r, "/login/wait", http.StatusSeeOther)
}

// flow returns the challenge this browser started, checking the secret
// in its flow cookie.
func (a *App) flow(r *http.Request) (*Challenge, error) {
	ck, err := r.Cookie(flowCookie)
	if err != nil {
		return nil, ErrNotFound
	}
	id, secret, ok := strings.Cut(ck.Value, ".")
	if !ok {
		return nil, ErrNotFound
	}
	c, err := a.store.Challenge(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !sameToken(hashSecret(secret), c.Binding) {
		return nil, ErrNotFound
	}
	return c, nil
}

type waitData struct {
	C           *Challenge
	Approve     string
	QR          template.HTML
	Remaining   int64
	ExpiresUnix int64
}

func (a *App) waitPage(w http.ResponseWriter, r *http.Request) {
	c, err := a.flow(r)
	if err != nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	link := a.base(r) + "/approve/" + c.ID
	qr, err := qrSVG(link, "QR code of the approval link")
	if err != nil {
		a.log.Error("qr", "err", err)
	}
	a.render(w, http.StatusOK, "wait", page{Title: "Approve on your phone", Data: waitData{
		C: c, Approve: link, QR: qr, ExpiresUnix: c.Expires.UnixMilli(),
		Remaining: int64(time.Until(c.Expires).Seconds()),
	}})
}

// status tells the waiting page where its challenge stands. The page asks
// when its stream ends or fails, so it never depends on one event.
func (a *App) status(w http.ResponseWriter, r *http.Request) {
	c, err := a.flow(r)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "no sign-in in progress"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"state": c.StateAt(time.Now()), "expires": c.Expires.UnixMilli()})
}

// finish completes the login. The event told the page to come here; what
// decides is the challenge's state in the store, moved from approved to
// used exactly once, and this browser's flow secret and CSRF token.
func (a *App) finish(w http.ResponseWriter, r *http.Request) {
	c, err := a.flow(r)
	if err != nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "No sign-in in progress in this browser."})
		return
	}
	if !sameToken(r.PostFormValue("csrf"), c.CSRF) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "The form token is missing or wrong."})
		return
	}
	now := time.Now()
	c, err = a.store.Transition(r.Context(), c.ID, Approved, Used, now)
	if err != nil {
		status, msg := http.StatusConflict, "This sign-in cannot be finished."
		if errors.Is(err, ErrConflict) {
			switch c.StateAt(now) {
			case Pending:
				msg = "Your phone has not approved this sign-in yet."
			case Denied:
				msg = "This sign-in was denied on your phone."
			case Used:
				msg = "This sign-in request was already used. Sign in again."
			case Expired:
				status, msg = http.StatusGone, "This sign-in request has expired. Sign in again."
			}
		} else if !errors.Is(err, ErrNotFound) {
			a.log.Error("finish", "err", err)
			status, msg = http.StatusServiceUnavailable, "Try again in a moment."
		}
		writeJSON(w, status, map[string]string{"error": msg, "state": string(stateOf(c, now))})
		return
	}
	if _, err := a.newSession(w, r, c.User, WebSession); err != nil {
		a.log.Error("new session", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "Try again in a moment."})
		return
	}
	a.clearCookie(w, r, flowCookie, "/login")
	// The hub cookie is left to expire with the challenge: it opens nothing
	// but this finished topic, and with it the browser's reconnect gets the
	// 204 that stops EventSource (without it, a 401 would stop it too, but
	// the status would say "unauthorized" rather than "finished").
	a.log.Info("signed in with both factors", "user", c.User, "challenge", c.ID[:8])
	writeJSON(w, http.StatusOK, map[string]string{"user": c.User, "next": "/account"})
}

func stateOf(c *Challenge, now time.Time) State {
	if c == nil {
		return ""
	}
	return c.StateAt(now)
}

func (a *App) account(w http.ResponseWriter, r *http.Request) {
	s := a.session(r, WebSession)
	if s == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "account", page{Title: "Your account", Data: s})
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if s := a.session(r, WebSession); s != nil && sameToken(r.PostFormValue("csrf"), s.CSRF) {
		if c, err := r.Cookie(webCookie); err == nil {
			_ = a.store.DeleteSession(r.Context(), hashSecret(c.Value))
		}
	}
	a.clearCookie(w, r, webCookie, "/")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// ---- the phone -----------------------------------------------------------

func (a *App) phoneHome(w http.ResponseWriter, r *http.Request) {
	s := a.session(r, DeviceSession)
	if s == nil {
		http.Redirect(w, r, "/phone/login", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "message", page{Title: "Phone", Phone: true, Data: message{Kind: "info",
		Heading: "This phone approves sign-ins for " + s.User,
		Text:    "Scan the QR code your computer shows, or open its link here."}})
}

func (a *App) phoneLoginPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, http.StatusOK, "login", page{Title: "Sign in on your phone", Phone: true,
		Data: loginData{Action: "/phone/login", Next: safeNext(r.URL.Query().Get("next")), Phone: true}})
}

// phoneLogin creates the phone's device session. In this demo the password
// stands in for enrolling the phone; see the README.
func (a *App) phoneLogin(w http.ResponseWriter, r *http.Request) {
	user, password := r.PostFormValue("username"), r.PostFormValue("password")
	next := safeNext(r.PostFormValue("next"))
	if !checkPassword(a.users, user, password) {
		a.render(w, http.StatusUnauthorized, "login", page{Title: "Sign in on your phone", Phone: true,
			Data: loginData{Action: "/phone/login", Next: next, User: user, Error: "Wrong username or password.", Phone: true}})
		return
	}
	if _, err := a.newSession(w, r, user, DeviceSession); err != nil {
		a.log.Error("new device session", "err", err)
		a.fail(w, r, http.StatusServiceUnavailable, "Try again", "The sign-in service is not available right now.")
		return
	}
	if next == "" {
		next = "/phone"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// safeNext accepts only this app's approval paths as a redirect target.
func safeNext(next string) string {
	id, ok := strings.CutPrefix(next, "/approve/")
	if !ok || id == "" || strings.ContainsAny(id, "/\\?#%.") || len(id) > 64 {
		return ""
	}
	return next
}

type approveData struct {
	C    *Challenge
	CSRF string
	Ago  string
}

// phoneChallenge loads the challenge of an approval URL for the phone's
// session; another user's challenge is "not found", like a wrong id.
func (a *App) phoneChallenge(w http.ResponseWriter, r *http.Request) (*Session, *Challenge, bool) {
	s := a.session(r, DeviceSession)
	if s == nil {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/phone/login?next="+url.QueryEscape("/approve/"+r.PathValue("id")), http.StatusSeeOther)
		} else {
			a.fail(w, r, http.StatusUnauthorized, "Sign in first", "Sign in on this phone, then open the link again.")
		}
		return nil, nil, false
	}
	c, err := a.store.Challenge(r.Context(), r.PathValue("id"))
	if err != nil || c.User != s.User {
		if err != nil && !errors.Is(err, ErrNotFound) {
			a.log.Error("challenge lookup", "err", err)
		}
		a.fail(w, r, http.StatusNotFound, "No such sign-in request", "This link does not match a sign-in of your account.")
		return nil, nil, false
	}
	return s, c, true
}

func (a *App) approvePage(w http.ResponseWriter, r *http.Request) {
	s, c, ok := a.phoneChallenge(w, r)
	if !ok {
		return
	}
	if st := c.StateAt(time.Now()); st != Pending {
		a.refuseDecided(w, r, st)
		return
	}
	a.render(w, http.StatusOK, "approve", page{Title: "Approve sign-in?", Phone: true, Data: approveData{
		C: c, CSRF: s.CSRF, Ago: time.Since(c.Created).Round(time.Second).String()}})
}

func (a *App) refuseDecided(w http.ResponseWriter, r *http.Request, st State) {
	switch st {
	case Expired:
		a.fail(w, r, http.StatusGone, "This request has expired", "Nothing was approved. Sign in again on your computer.")
	case Approved, Used:
		a.fail(w, r, http.StatusConflict, "Already approved", "This sign-in request was already approved; it cannot be approved or denied again.")
	case Denied:
		a.fail(w, r, http.StatusConflict, "Already denied", "This sign-in request was denied; it cannot be approved again.")
	default:
		a.fail(w, r, http.StatusConflict, "Cannot change this request", "This sign-in request is no longer waiting.")
	}
}

// decide records the phone's answer and tells the waiting browser. The
// store's atomic pending → approved/denied transition is what makes a
// second approval fail, on any instance of the app.
func (a *App) decide(w http.ResponseWriter, r *http.Request) {
	s, c, ok := a.phoneChallenge(w, r)
	if !ok {
		return
	}
	if !sameToken(r.PostFormValue("csrf"), s.CSRF) {
		a.fail(w, r, http.StatusForbidden, "Form expired", "Reload the page and try again.")
		return
	}
	to, typ := Approved, "2fa-complete"
	switch r.PostFormValue("decision") {
	case "approve":
	case "deny":
		to, typ = Denied, "2fa-denied"
	default:
		a.fail(w, r, http.StatusBadRequest, "Unknown answer", "Choose approve or deny.")
		return
	}
	now := time.Now()
	c, err := a.store.Transition(r.Context(), c.ID, Pending, to, now)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			a.refuseDecided(w, r, c.StateAt(now))
			return
		}
		a.log.Error("decide", "err", err)
		a.fail(w, r, http.StatusServiceUnavailable, "Try again", "Your answer was not recorded.")
		return
	}
	// The final update on the topic: the hub delivers it, then ends the
	// waiting browser's stream, and answers its reconnect with 204 so that
	// EventSource stops. retry: 500 makes that reconnect come quickly.
	final := &herald.Update{Topics: []string{c.Topic()}, Type: typ, Private: true, Final: true, Retry: "500",
		Data: fmt.Sprintf(`{"state":%q}`, to)}
	if err := a.publishFinal(r.Context(), final); err != nil {
		// The decision stands (the store has it); the page will see it when
		// it next asks for the status, at the latest when it expires.
		a.log.Error("publish final update", "err", err, "challenge", c.ID[:8])
	}
	a.log.Info("phone answered", "user", c.User, "challenge", c.ID[:8], "state", to)
	m := message{Kind: "approved", Heading: "Approved", Text: "Your computer is signing in. You can put your phone away."}
	if to == Denied {
		m = message{Kind: "denied", Heading: "Denied", Text: "The sign-in on your computer was refused. If it was not you, change your password."}
	}
	a.render(w, http.StatusOK, "message", page{Title: m.Heading, Phone: true, Data: m})
}

// publishFinal retries a failed publish a few times: the transport may be
// failing over.
func (a *App) publishFinal(ctx context.Context, u *herald.Update) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = a.push.Publish(ctx, u); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 200 * time.Millisecond):
		}
	}
	return err
}

// ---- helpers -----------------------------------------------------------

// base is the app's URL as the browser reached it.
func (a *App) base(r *http.Request) string {
	if a.cfg.PublicURL != "" {
		return a.cfg.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
