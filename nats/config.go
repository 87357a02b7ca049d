package nats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/heraldpush/herald"
)

// Defaults of a Config.
const (
	DefaultStream        = "herald"
	DefaultSubjectPrefix = "herald"
	DefaultMaxAge        = 24 * time.Hour
	DefaultDuplicates    = 2 * time.Minute
	DefaultTimeout       = 5 * time.Second
)

// Storage is where JetStream keeps the stream.
type Storage int

const (
	// FileStorage keeps the stream on the servers' disks (the default):
	// history survives a NATS restart.
	FileStorage Storage = iota
	// MemoryStorage keeps the stream in the servers' memory: faster, and
	// lost when the NATS servers restart.
	MemoryStorage
)

// String returns "file" or "memory", as the URL's storage parameter
// spells them.
func (s Storage) String() string {
	if s == MemoryStorage {
		return "memory"
	}
	return "file"
}

// Config configures a Transport. Zero fields take the defaults; see each
// field. ParseURL builds one from a transport URL.
type Config struct {
	// Servers are the NATS server URLs (nats://host:4222, tls://host:4222).
	// Credentials in a URL (user:pass@ or token@) are used. Required.
	Servers []string

	// Stream is the JetStream stream's name. Default "herald". Nodes that
	// share a stream form one cluster.
	Stream string

	// SubjectPrefix is the subject namespace of the stream: updates are
	// published on <prefix>.u.<hash of the update id>. Default "herald".
	SubjectPrefix string

	// Size is the most updates the stream keeps (MaxMsgs). Default
	// herald.DefaultHistorySize; negative: no count bound.
	Size int

	// MaxAge drops updates older than this. Default 24 h; negative: no age
	// bound. At least one of Size, MaxAge and MaxBytes must bound history.
	MaxAge time.Duration

	// MaxBytes bounds the stream's size in bytes. Default
	// herald.DefaultHistoryBytes; negative: no byte bound.
	MaxBytes int64

	// Storage is file (default) or memory.
	Storage Storage

	// Replicas is the stream's replication factor in a NATS cluster.
	// Default 1.
	Replicas int

	// Duplicates is JetStream's de-duplication window: a publish whose
	// update id was already stored within it is answered with the stored
	// update instead of being stored twice (see Transport.Publish).
	// Default 2 minutes, never more than MaxAge.
	Duplicates time.Duration

	// Timeout bounds each publish, history read and ping that reaches
	// NATS; past it the operation fails with herald.ErrUnavailable.
	// Default 5 s.
	Timeout time.Duration

	// Unmanaged uses the stream as the operator configured it: Open
	// neither creates it nor changes its limits (Size, MaxAge, MaxBytes,
	// Storage, Replicas and Duplicates are then ignored), and only checks
	// that its subjects and retention suit Herald. For accounts without
	// permission to manage streams.
	Unmanaged bool

	// Domain is the JetStream domain, for leaf-node setups. Default none.
	Domain string

	// Name is the connection name shown in NATS monitoring. Default
	// "herald".
	Name string

	// Logger receives connection events and delivery warnings. Default
	// slog.Default().
	Logger *slog.Logger

	// Options are extra nats.go options (credentials, TLS, ...), applied
	// after the transport's own.
	Options []natsgo.Option
}

// withDefaults returns c with its zero fields set.
func (c Config) withDefaults() Config {
	if c.Stream == "" {
		c.Stream = DefaultStream
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = DefaultSubjectPrefix
	}
	if c.Size == 0 {
		c.Size = herald.DefaultHistorySize
	}
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = herald.DefaultHistoryBytes
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	if c.MaxAge > 0 && c.Duplicates > c.MaxAge {
		c.Duplicates = c.MaxAge
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Name == "" {
		c.Name = "herald"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports what is wrong with a defaulted config.
func (c Config) validate() error {
	if len(c.Servers) == 0 {
		return errors.New("nats: no server URL")
	}
	if err := validName(c.Stream); err != nil {
		return fmt.Errorf("nats: stream name %q: %w", c.Stream, err)
	}
	if err := validSubject(c.SubjectPrefix); err != nil {
		return fmt.Errorf("nats: subject prefix %q: %w", c.SubjectPrefix, err)
	}
	if c.Size < 0 && c.MaxAge < 0 && c.MaxBytes < 0 {
		return errors.New("nats: history must be bounded: set a size, an age or a byte bound")
	}
	if c.MaxAge > 0 && c.MaxAge < 100*time.Millisecond {
		return fmt.Errorf("nats: max age %v is below JetStream's minimum of 100ms", c.MaxAge)
	}
	if c.Duplicates > 0 && c.Duplicates < 100*time.Millisecond {
		return fmt.Errorf("nats: duplicate window %v is below JetStream's minimum of 100ms", c.Duplicates)
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		return fmt.Errorf("nats: replicas %d: JetStream allows 1 to 5", c.Replicas)
	}
	if c.Storage != FileStorage && c.Storage != MemoryStorage {
		return fmt.Errorf("nats: unknown storage %d", c.Storage)
	}
	return nil
}

// validName checks a stream name: JetStream forbids dots, wildcards,
// whitespace and path separators in it.
func validName(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	if len(s) > 255 {
		return errors.New("longer than 255 bytes")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c == 0x7f:
			return errors.New("holds whitespace or a control character")
		case c == '.' || c == '*' || c == '>' || c == '/' || c == '\\':
			return fmt.Errorf("holds %q", c)
		}
	}
	return nil
}

// validSubject checks a literal subject: dot-separated non-empty tokens
// without wildcards or whitespace.
func validSubject(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, tok := range strings.Split(s, ".") {
		if tok == "" {
			return errors.New("has an empty token")
		}
		for i := 0; i < len(tok); i++ {
			switch c := tok[i]; {
			case c <= ' ' || c == 0x7f:
				return errors.New("holds whitespace or a control character")
			case c == '*' || c == '>':
				return errors.New("holds a wildcard")
			}
		}
	}
	return nil
}

// ParseURL reads a transport URL into a Config, starting from base (whose
// Size and MaxAge are typically the --history-size and --history-age
// flags; the URL's query overrides them):
//
//	nats://[user:pass@|token@]host:4222[,host2:4222...][?options]
//	(give every host its port when listing several)
//	tls://host:4222?...     (TLS required; also nats://...?tls=true)
//
// Options, all optional:
//
//	stream=herald     the JetStream stream's name
//	prefix=herald     the subject prefix (updates go to <prefix>.u.<hash>)
//	size=10000        most updates kept; -1 for no count bound
//	age=24h           oldest update kept; 0 or -1 for no age bound
//	bytes=67108864    most bytes kept; -1 for no byte bound
//	storage=file      file or memory
//	replicas=1        the stream's replicas in a NATS cluster (1 to 5)
//	dedup=2m          de-duplication window for republished update ids
//	timeout=5s        bound on each publish, history read and ping
//	manage=true       false: use an existing stream as configured (see Config.Unmanaged)
//	domain=           JetStream domain
//	name=herald       connection name
//	token=...         authentication token
//	user=... pass=... user and password (instead of user:pass@)
//	creds=/path       a credentials file (JWT and NKey seed)
//	nkey=/path        an NKey seed file
//	tls=true          require TLS
//	tls_ca=/path      CA certificates to verify the server with
//	tls_cert=/path    client certificate (with tls_key)
//	tls_key=/path     client key
//	tls_insecure=true skip verifying the server certificate (tests only)
//
// Unknown options are an error, so that a typo does not go unnoticed.
func ParseURL(raw string, base Config) (Config, error) {
	cfg := base
	u, err := url.Parse(raw)
	if err != nil {
		return cfg, fmt.Errorf("nats: invalid transport URL: %w", err)
	}
	scheme := u.Scheme
	switch scheme {
	case "nats", "tls":
	default:
		return cfg, fmt.Errorf("nats: unsupported scheme %q (use nats:// or tls://)", scheme)
	}
	if u.Host == "" {
		return cfg, errors.New("nats: the transport URL has no host (nats://host:4222)")
	}
	if u.Path != "" && u.Path != "/" {
		return cfg, fmt.Errorf("nats: unexpected path %q in the transport URL (options go in the query: ?stream=...)", u.Path)
	}
	q := u.Query()
	var tlsOn bool
	var tlsCA, tlsCert, tlsKey string
	var tlsInsecure bool
	var user, pass, token string
	var errs []error
	bad := func(name, v string, err error) {
		errs = append(errs, fmt.Errorf("nats: option %s=%q: %v", name, v, err))
	}
	for name, vals := range q {
		v := vals[len(vals)-1]
		switch name {
		case "stream":
			cfg.Stream = v
		case "prefix", "subject":
			cfg.SubjectPrefix = v
		case "size":
			n, err := strconv.Atoi(v)
			if err != nil {
				bad(name, v, err)
			}
			if n == 0 {
				n = -1
			}
			cfg.Size = n
		case "age":
			d, err := parseDuration(v)
			if err != nil {
				bad(name, v, err)
			}
			if d == 0 {
				d = -1
			}
			cfg.MaxAge = d
		case "bytes":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				bad(name, v, err)
			}
			if n == 0 {
				n = -1
			}
			cfg.MaxBytes = n
		case "storage":
			switch v {
			case "file":
				cfg.Storage = FileStorage
			case "memory":
				cfg.Storage = MemoryStorage
			default:
				bad(name, v, errors.New("want file or memory"))
			}
		case "replicas":
			n, err := strconv.Atoi(v)
			if err != nil {
				bad(name, v, err)
			}
			cfg.Replicas = n
		case "dedup", "duplicates":
			d, err := parseDuration(v)
			if err != nil {
				bad(name, v, err)
			}
			cfg.Duplicates = d
		case "timeout":
			d, err := parseDuration(v)
			if err == nil && d <= 0 {
				err = errors.New("must be positive")
			}
			if err != nil {
				bad(name, v, err)
			}
			cfg.Timeout = d
		case "manage":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(name, v, err)
			}
			cfg.Unmanaged = !b
		case "domain":
			cfg.Domain = v
		case "name":
			cfg.Name = v
		case "token":
			token = v
		case "user":
			user = v
		case "pass", "password":
			pass = v
		case "creds":
			if _, err := os.Stat(v); err != nil {
				bad(name, v, err)
			}
			cfg.Options = append(cfg.Options, natsgo.UserCredentials(v))
		case "nkey":
			opt, err := natsgo.NkeyOptionFromSeed(v)
			if err != nil {
				bad(name, v, err)
			} else {
				cfg.Options = append(cfg.Options, opt)
			}
		case "tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(name, v, err)
			}
			tlsOn = tlsOn || b
		case "tls_ca":
			tlsCA, tlsOn = v, true
		case "tls_cert":
			tlsCert, tlsOn = v, true
		case "tls_key":
			tlsKey, tlsOn = v, true
		case "tls_insecure":
			b, err := strconv.ParseBool(v)
			if err != nil {
				bad(name, v, err)
			}
			tlsInsecure = b
			tlsOn = tlsOn || b
		default:
			errs = append(errs, fmt.Errorf("nats: unknown option %q in the transport URL", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	if (tlsCert == "") != (tlsKey == "") {
		return cfg, errors.New("nats: tls_cert and tls_key go together")
	}
	if scheme == "tls" {
		tlsOn = true
	}
	if tlsOn {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: tlsInsecure}
		if tlsCA != "" {
			pem, err := os.ReadFile(tlsCA)
			if err != nil {
				return cfg, fmt.Errorf("nats: tls_ca: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("nats: tls_ca %s: no PEM certificate found", tlsCA)
			}
			tc.RootCAs = pool
		}
		if tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
			if err != nil {
				return cfg, fmt.Errorf("nats: tls_cert/tls_key: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		cfg.Options = append(cfg.Options, natsgo.Secure(tc))
	}
	if token != "" {
		cfg.Options = append(cfg.Options, natsgo.Token(token))
	}
	if user != "" || pass != "" {
		cfg.Options = append(cfg.Options, natsgo.UserInfo(user, pass))
	}
	// Several servers may be listed in the host, comma-separated; each
	// gets the URL's credentials. nats.go reads user:pass@ and token@ from
	// each server URL itself.
	cfg.Servers = nil
	userinfo := ""
	if u.User != nil {
		userinfo = u.User.String() + "@"
	}
	for _, h := range strings.Split(u.Host, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !strings.Contains(h, ":") || strings.HasSuffix(h, "]") {
			h += ":4222"
		}
		cfg.Servers = append(cfg.Servers, scheme+"://"+userinfo+h)
	}
	if len(cfg.Servers) == 0 {
		return cfg, errors.New("nats: the transport URL has no host (nats://host:4222)")
	}
	return cfg, nil
}

// parseDuration reads a Go duration, or a plain number of seconds.
func parseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

// Redacted returns the server URLs with any password or token hidden, for
// logs.
func (c Config) Redacted() []string {
	out := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			out[i] = s
			continue
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			u.User = url.User("xxxxx")
		}
		out[i] = u.String()
	}
	return out
}
