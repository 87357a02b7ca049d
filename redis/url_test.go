package redis

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseURL(t *testing.T) {
	p, err := ParseURL("redis://user:secret@db.example:6380/3?prefix=h1:&size=500&age=1h&timeout=3s&ping_interval=1s&dial_timeout=750ms&pool_size=7&client_name=node1")
	if err != nil {
		t.Fatal(err)
	}
	o := p.Options
	if o == nil || p.Failover != nil {
		t.Fatalf("standalone URL gave Options %v, Failover %v", o, p.Failover)
	}
	if o.Addr != "db.example:6380" || o.Username != "user" || o.Password != "secret" || o.DB != 3 ||
		o.PoolSize != 7 || o.ClientName != "node1" || o.DialTimeout != 750*time.Millisecond || o.TLSConfig != nil {
		t.Errorf("options: %+v", o)
	}
	if o.MaxRetries != -1 || o.Protocol != 2 || o.DialerRetries != 1 || !o.ContextTimeoutEnabled {
		t.Errorf("transport defaults not applied: %+v", o)
	}
	cfg := p.Apply(Config{Size: 10, MaxAge: time.Minute, Prefix: "x:"})
	want := Config{Prefix: "h1:", Size: 500, MaxAge: time.Hour, Timeout: 3 * time.Second, PingInterval: time.Second}
	if cfg != want {
		t.Errorf("Apply: %+v; want %+v", cfg, want)
	}

	// Defaults: host, port, database; flags survive a URL without options.
	p, err = ParseURL("redis://")
	if err != nil {
		t.Fatal(err)
	}
	if p.Options.Addr != "localhost:6379" || p.Options.DB != 0 {
		t.Errorf("defaults: %+v", p.Options)
	}
	if cfg := p.Apply(Config{Size: 42, MaxAge: time.Minute}); cfg.Size != 42 || cfg.MaxAge != time.Minute {
		t.Errorf("flags overridden by a URL that sets nothing: %+v", cfg)
	}
	// age=0 removes a flag's age bound.
	p, _ = ParseURL("redis://h?age=0")
	if cfg := p.Apply(Config{MaxAge: time.Minute}); cfg.MaxAge != 0 {
		t.Errorf("age=0: MaxAge %v", cfg.MaxAge)
	}

	p, err = ParseURL("rediss://:pw@[::1]/0?insecure_skip_verify=true&server_name=redis.internal")
	if err != nil {
		t.Fatal(err)
	}
	if tc := p.Options.TLSConfig; tc == nil || !tc.InsecureSkipVerify || tc.ServerName != "redis.internal" || p.Options.Addr != "[::1]:6379" || p.Options.Password != "pw" {
		t.Errorf("rediss: %+v, TLS %+v", p.Options, p.Options.TLSConfig)
	}

	p, err = ParseURL("redis+sentinel://:pw@s1,s2:26380,[::1]:26381/2?master=mymaster&sentinel_password=spw")
	if err != nil {
		t.Fatal(err)
	}
	f := p.Failover
	if f == nil || f.MasterName != "mymaster" || !slices.Equal(f.SentinelAddrs, []string{"s1:26379", "s2:26380", "[::1]:26381"}) ||
		f.DB != 2 || f.Password != "pw" || f.SentinelPassword != "spw" || f.MaxRetries != -1 || f.Protocol != 2 {
		t.Errorf("sentinel: %+v", f)
	}
	p, err = ParseURL("redis://?sentinel_master=m&sentinel_addrs=a:1,b:2")
	if err != nil {
		t.Fatal(err)
	}
	if f := p.Failover; f == nil || f.MasterName != "m" || !slices.Equal(f.SentinelAddrs, []string{"a:1", "b:2"}) {
		t.Errorf("sentinel options form: %+v", p.Failover)
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://localhost", "scheme"},
		{"redis://h?sise=5", `unknown option "sise"`},
		{"redis://h?size=ten", "size"},
		{"redis://h?size=1&size=2", "given 2 times"},
		{"redis://h?age=-1s", "age"},
		{"redis://h?timeout=0s", "timeout"},
		{"redis://h?pool_size=0", "pool_size"},
		{"redis://h/x", "database"},
		{"redis://h?ca=/tmp/ca.pem", "needs TLS"},
		{"rediss://h?ca=/nonexistent/ca.pem", "ca"},
		{"rediss://h?cert=/tmp/c.pem", "both cert= and key="},
		{"rediss://h?insecure_skip_verify=maybe", "insecure_skip_verify"},
		{"redis+sentinel://s1", "master="},
		{"redis://h?sentinel_addrs=a", "Sentinel URL"},
		{"redis://a:1,b:2", "only for Sentinel"},
		{"redis://u:topsecret@h?bogus=1", "xxxxx"},
	} {
		_, err := ParseURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q) = %v; want an error mentioning %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "topsecret") {
			t.Errorf("ParseURL(%q): the error shows the password: %v", tc.url, err)
		}
	}
}

func TestConfigNeedsABound(t *testing.T) {
	c := Config{Size: -1}
	if err := c.setDefaults(); err == nil {
		t.Error("a config with no count and no age bound was accepted")
	}
	c = Config{Size: -1, MaxAge: time.Hour}
	if err := c.setDefaults(); err != nil {
		t.Errorf("age bound only: %v", err)
	}
}
