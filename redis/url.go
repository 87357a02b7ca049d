package redis

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// A ParsedURL is a transport URL taken apart: the go-redis options and the
// transport options it sets.
type ParsedURL struct {
	// Options is set for a standalone Redis (redis://, rediss://).
	Options *goredis.Options
	// Failover is set for Redis behind Sentinel (redis+sentinel://,
	// rediss+sentinel://, or sentinel_master=…).
	Failover *goredis.FailoverOptions
	// Config holds the transport options the URL gives; a zero field was
	// not given (see Apply).
	Config Config
	// AgeSet reports that the URL gave age, possibly 0 (no age bound).
	AgeSet bool
}

// Apply returns defaults overridden by what the URL sets.
func (p *ParsedURL) Apply(defaults Config) Config {
	c := defaults
	if p.Config.Prefix != "" {
		c.Prefix = p.Config.Prefix
	}
	if p.Config.Size != 0 {
		c.Size = p.Config.Size
	}
	if p.AgeSet {
		c.MaxAge = p.Config.MaxAge
	}
	if p.Config.Timeout != 0 {
		c.Timeout = p.Config.Timeout
	}
	if p.Config.PingInterval != 0 {
		c.PingInterval = p.Config.PingInterval
	}
	return c
}

// NewClient returns a go-redis client for the URL.
func (p *ParsedURL) NewClient() goredis.UniversalClient {
	if p.Failover != nil {
		return goredis.NewFailoverClient(p.Failover)
	}
	return goredis.NewClient(p.Options)
}

// urlOptions are the query parameters ParseURL knows.
var urlOptions = []string{
	"prefix", "size", "age", "timeout", "ping_interval", "dial_timeout", "pool_size", "client_name",
	"ca", "cert", "key", "server_name", "insecure_skip_verify", "skip_verify",
	"master", "sentinel_master", "sentinel_addrs", "sentinel_username", "sentinel_password",
}

// ParseURL parses a Redis transport URL:
//
//	redis://[user:password@]host[:port][/db][?options]
//	rediss://…                                   the same over TLS
//	redis+sentinel://[user:password@]sentinel1[:port],sentinel2[:port]…[/db]?master=name[&options]
//	rediss+sentinel://…                          Sentinel, TLS to Redis and the sentinels
//
// The port defaults to 6379 (26379 for a sentinel). user and password
// authenticate to Redis (ACL user, or only a password as
// redis://:password@host). Options:
//
//	prefix=herald:          key and channel prefix (several hubs on one database)
//	size=10000              most updates kept (negative: no count bound; needs age)
//	age=1h                  drop history older than this (0: no age bound)
//	timeout=2s              bound on a publish or a history read
//	ping_interval=5s        idle time before the subscription is checked
//	dial_timeout=2s         bound on opening a connection
//	pool_size=N             connections to Redis (default 10 per CPU)
//	client_name=herald      name shown by CLIENT LIST
//	ca=/path/ca.pem         CA certificates that sign the server's (TLS)
//	cert=/path/c.pem, key=/path/k.pem   client certificate (TLS)
//	server_name=name        name to verify in the server's certificate (TLS)
//	insecure_skip_verify=true  do not verify the server's certificate (tests only)
//	master=name             Sentinel: the monitored master's name (also sentinel_master)
//	sentinel_username=u, sentinel_password=p   Sentinel: authentication to the sentinels
//	sentinel_addrs=h1:26379,h2:26379   Sentinel: sentinels, for redis://…?sentinel_master=name
//
// Values that are not valid for their option, and unknown options, are
// errors: a typo must not silently fall back to a default.
func ParseURL(raw string) (*ParsedURL, error) {
	raw, hostList := splitHosts(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redis transport: invalid URL: %w", err)
	}
	if hostList != "" {
		u.Host = hostList
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("redis transport: URL %s: %s", redact(u), fmt.Sprintf(format, args...))
	}
	var useTLS, sentinel bool
	switch u.Scheme {
	case "redis":
	case "rediss":
		useTLS = true
	case "redis+sentinel":
		sentinel = true
	case "rediss+sentinel":
		useTLS, sentinel = true, true
	default:
		return nil, bad("scheme %q: use redis, rediss, redis+sentinel or rediss+sentinel", u.Scheme)
	}
	if u.Opaque != "" {
		return nil, bad("write it as %s://host:port", u.Scheme)
	}
	q := u.Query()
	for name, vs := range q {
		if !slices.Contains(urlOptions, name) {
			return nil, bad("unknown option %q (known: %s)", name, strings.Join(urlOptions, ", "))
		}
		if len(vs) > 1 {
			return nil, bad("option %q given %d times", name, len(vs))
		}
	}
	p := &ParsedURL{}
	p.Config.Prefix = q.Get("prefix")
	if v := q.Get("size"); v != "" {
		if p.Config.Size, err = strconv.Atoi(v); err != nil {
			return nil, bad("size %q is not an integer", v)
		}
	}
	var dialTimeout time.Duration
	type durationOption struct {
		name     string
		dst      *time.Duration
		zeroOkay bool
	}
	for _, d := range []durationOption{
		{"age", &p.Config.MaxAge, true},
		{"timeout", &p.Config.Timeout, false},
		{"ping_interval", &p.Config.PingInterval, false},
		{"dial_timeout", &dialTimeout, false},
	} {
		v := q.Get(d.name)
		if v == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(v); err != nil || *d.dst < 0 || (*d.dst == 0 && !d.zeroOkay) {
			return nil, bad("%s %q is not a positive duration such as 2s", d.name, v)
		}
	}
	p.AgeSet = q.Has("age")
	if dialTimeout == 0 {
		dialTimeout = DefaultTimeout
	}
	poolSize := 0
	if v := q.Get("pool_size"); v != "" {
		if poolSize, err = strconv.Atoi(v); err != nil || poolSize <= 0 {
			return nil, bad("pool_size %q is not a positive integer", v)
		}
	}
	db := 0
	if path := strings.Trim(u.Path, "/"); path != "" {
		if db, err = strconv.Atoi(path); err != nil || db < 0 {
			return nil, bad("database %q is not a number", path)
		}
	}
	clientName := q.Get("client_name")
	if clientName == "" {
		clientName = "herald"
	}
	var user, pass string
	if u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}

	var tlsConfig *tls.Config
	if useTLS {
		if tlsConfig, err = tlsFromQuery(q); err != nil {
			return nil, bad("%v", err)
		}
	} else {
		for _, name := range []string{"ca", "cert", "key", "server_name", "insecure_skip_verify", "skip_verify"} {
			if q.Has(name) {
				return nil, bad("option %q needs TLS: use %ss://", name, u.Scheme)
			}
		}
	}

	master := q.Get("master")
	if master == "" {
		master = q.Get("sentinel_master")
	}
	if master != "" && !sentinel {
		sentinel = true // the redis://…?sentinel_master=… form
	}
	if !sentinel {
		for _, name := range []string{"sentinel_addrs", "sentinel_username", "sentinel_password"} {
			if q.Has(name) {
				return nil, bad("option %q needs a Sentinel URL (redis+sentinel://…?master=name)", name)
			}
		}
		host := u.Host
		if host == "" {
			host = "localhost"
		}
		if strings.Contains(host, ",") {
			return nil, bad("several hosts are only for Sentinel (redis+sentinel://)")
		}
		addr, err := withPort(host, "6379")
		if err != nil {
			return nil, bad("%v", err)
		}
		p.Options = &goredis.Options{
			Addr:       addr,
			ClientName: clientName,
			Username:   user,
			Password:   pass,
			DB:         db,
			TLSConfig:  tlsConfig,
			PoolSize:   poolSize,
		}
		clientDefaults(p.Options, dialTimeout)
		return p, nil
	}

	if master == "" {
		return nil, bad("a Sentinel URL needs master=<name of the monitored master>")
	}
	hosts := u.Host
	if v := q.Get("sentinel_addrs"); v != "" {
		hosts = v
	}
	var sentinels []string
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		addr, err := withPort(h, "26379")
		if err != nil {
			return nil, bad("%v", err)
		}
		sentinels = append(sentinels, addr)
	}
	if len(sentinels) == 0 {
		return nil, bad("no sentinel address")
	}
	o := &goredis.Options{DialTimeout: dialTimeout}
	clientDefaults(o, dialTimeout)
	p.Failover = &goredis.FailoverOptions{
		MasterName:            master,
		SentinelAddrs:         sentinels,
		SentinelUsername:      q.Get("sentinel_username"),
		SentinelPassword:      q.Get("sentinel_password"),
		ClientName:            clientName,
		Username:              user,
		Password:              pass,
		DB:                    db,
		TLSConfig:             tlsConfig,
		PoolSize:              poolSize,
		Protocol:              o.Protocol,
		MaxRetries:            o.MaxRetries,
		DialTimeout:           o.DialTimeout,
		DialerRetries:         o.DialerRetries,
		ContextTimeoutEnabled: o.ContextTimeoutEnabled,
	}
	return p, nil
}

// splitHosts takes the host list out of a Sentinel URL, which net/url
// cannot parse when it holds bracketed IPv6 addresses, and puts a
// placeholder in its place. Other URLs are returned as they are.
func splitHosts(raw string) (rest, hosts string) {
	scheme, after, ok := strings.Cut(raw, "://")
	if !ok || !strings.HasSuffix(scheme, "+sentinel") {
		return raw, ""
	}
	end := strings.IndexAny(after, "/?#")
	if end < 0 {
		end = len(after)
	}
	authority := after[:end]
	at := strings.LastIndex(authority, "@")
	hosts = authority[at+1:]
	if !strings.ContainsAny(hosts, ",[") {
		return raw, ""
	}
	return scheme + "://" + authority[:at+1] + "sentinels" + after[end:], hosts
}

// clientDefaults sets the go-redis options the transport relies on.
//   - RESP2: Pub/Sub on its own connection, as the transport uses it, is
//     the long-proven path, and nothing here needs RESP3; it also spares
//     the RESP3 handshake's extra round trips on every new connection.
//   - No retries inside go-redis: the transport retries a publish itself,
//     with a batch token that makes a repeat harmless, and reports an
//     outage within its own timeout.
//   - One dial attempt per call: a publish while Redis is down fails at
//     once (503) instead of waiting out go-redis's dial retries.
//   - Context deadlines bound socket reads, so Config.Timeout holds.
func clientDefaults(o *goredis.Options, dialTimeout time.Duration) {
	o.Protocol = 2
	o.MaxRetries = -1
	o.DialTimeout = dialTimeout
	o.DialerRetries = 1
	o.ContextTimeoutEnabled = true
}

func withPort(host, port string) (string, error) {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host, nil
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host + ":" + port, nil
	}
	if strings.Count(host, ":") > 1 {
		return "", fmt.Errorf("IPv6 address %q must be in brackets", host)
	}
	return net.JoinHostPort(host, port), nil
}

// tlsFromQuery builds the TLS configuration of a rediss URL.
func tlsFromQuery(q url.Values) (*tls.Config, error) {
	// An empty ServerName is taken from each address dialed, which is what
	// Sentinel needs: the master's address changes on failover.
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: q.Get("server_name")}
	if v := q.Get("insecure_skip_verify") + q.Get("skip_verify"); v != "" {
		skip, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("insecure_skip_verify %q is not true or false", v)
		}
		c.InsecureSkipVerify = skip
	}
	if path := q.Get("ca"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca: no PEM certificate in %s", path)
		}
		c.RootCAs = pool
	}
	cert, key := q.Get("cert"), q.Get("key")
	if (cert == "") != (key == "") {
		return nil, errors.New("a client certificate needs both cert= and key=")
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}

// redact returns the URL without its passwords, for error messages.
func redact(u *url.URL) string {
	c := *u
	q := c.Query()
	if q.Has("sentinel_password") {
		q.Set("sentinel_password", "xxxxx")
		c.RawQuery = q.Encode()
	}
	return c.Redacted()
}
