package nats

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
)

func TestParseURL(t *testing.T) {
	base := Config{Size: 500, MaxAge: 2 * time.Hour}
	cfg, err := ParseURL("nats://127.0.0.1:4222", base)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Servers, []string{"nats://127.0.0.1:4222"}) || cfg.Size != 500 || cfg.MaxAge != 2*time.Hour {
		t.Errorf("plain URL: %+v", cfg)
	}
	d := cfg.withDefaults()
	if d.Stream != "herald" || d.SubjectPrefix != "herald" || d.Replicas != 1 || d.Storage != FileStorage || d.Timeout != DefaultTimeout || d.MaxBytes != herald.DefaultHistoryBytes {
		t.Errorf("defaults: %+v", d)
	}

	cfg, err = ParseURL("nats://alice:s3cret@a:4222,b:4223,c:4224?stream=hub&prefix=app.herald&size=-1&age=1h&bytes=1000000&storage=memory&replicas=3&dedup=30s&timeout=2s&name=node1", Config{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nats://alice:s3cret@a:4222", "nats://alice:s3cret@b:4223", "nats://alice:s3cret@c:4224"}
	if !slices.Equal(cfg.Servers, want) {
		t.Errorf("servers %q; want %q", cfg.Servers, want)
	}
	if cfg.Stream != "hub" || cfg.SubjectPrefix != "app.herald" || cfg.Size != -1 || cfg.MaxAge != time.Hour ||
		cfg.MaxBytes != 1000000 || cfg.Storage != MemoryStorage || cfg.Replicas != 3 || cfg.Duplicates != 30*time.Second ||
		cfg.Timeout != 2*time.Second || cfg.Name != "node1" {
		t.Errorf("options: %+v", cfg)
	}
	if r := cfg.Redacted(); strings.Contains(strings.Join(r, ","), "s3cret") {
		t.Errorf("Redacted leaks the password: %q", r)
	}

	// age=0 and size=0 remove the bound (the flag's zero means "default").
	cfg, err = ParseURL("nats://h:4222?age=0&size=5", base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxAge >= 0 || cfg.Size != 5 {
		t.Errorf("age=0: MaxAge %v, Size %d; want no age bound, 5", cfg.MaxAge, cfg.Size)
	}

	cfg, err = ParseURL("tls://h:4222?token=abc", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Options) != 2 || cfg.Servers[0] != "tls://h:4222" {
		t.Errorf("tls:// with a token: %d options, servers %q", len(cfg.Options), cfg.Servers)
	}
}

func TestParseURLErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.creds")
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{
		"redis://h:6379",
		"nats://",
		"nats://h:4222/path",
		"nats://h:4222?strem=typo",
		"nats://h:4222?size=many",
		"nats://h:4222?age=forever",
		"nats://h:4222?storage=tape",
		"nats://h:4222?replicas=x",
		"nats://h:4222?timeout=-1s",
		"nats://h:4222?creds=" + missing,
		"nats://h:4222?tls_ca=" + notPEM,
		"nats://h:4222?tls_cert=/a.pem",
		"nats://h:4222?tls=maybe",
		"nats://h:4222?nkey=" + missing,
	} {
		if _, err := ParseURL(raw, Config{}); err == nil {
			t.Errorf("ParseURL(%q): no error", raw)
		} else {
			t.Logf("%s: %v", raw, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Servers: []string{"nats://h:4222"}}
	for name, c := range map[string]Config{
		"no server":       {},
		"stream with dot": {Servers: ok.Servers, Stream: "a.b"},
		"stream space":    {Servers: ok.Servers, Stream: "a b"},
		"prefix wildcard": {Servers: ok.Servers, SubjectPrefix: "a.*"},
		"prefix empty tk": {Servers: ok.Servers, SubjectPrefix: "a..b"},
		"unbounded":       {Servers: ok.Servers, Size: -1, MaxAge: -1, MaxBytes: -1},
		"tiny age":        {Servers: ok.Servers, MaxAge: time.Millisecond},
		"replicas":        {Servers: ok.Servers, Replicas: 7},
	} {
		if err := c.withDefaults().validate(); err == nil {
			t.Errorf("%s: validate passed", name)
		}
	}
	if err := ok.withDefaults().validate(); err != nil {
		t.Errorf("a minimal config: %v", err)
	}
	// The de-duplication window never exceeds the age bound.
	c := Config{Servers: ok.Servers, MaxAge: time.Second}.withDefaults()
	if c.Duplicates != time.Second {
		t.Errorf("Duplicates %v with MaxAge 1s; want 1s", c.Duplicates)
	}
}

// FuzzParseURL: any input gives a config or an error, never a panic, and
// an accepted URL yields servers.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"nats://127.0.0.1:4222", "tls://a:1,b:2?stream=s&prefix=p.q", "nats://u:p@h?size=-1&age=0",
		"nats://h?storage=memory&replicas=3&dedup=1s&timeout=2", "nats://[::1]:4222", "nats://h/x", "nats://%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		cfg, err := ParseURL(raw, Config{})
		if err == nil && len(cfg.Servers) == 0 {
			t.Errorf("ParseURL(%q) accepted a URL without servers", raw)
		}
		if err == nil {
			_ = cfg.withDefaults().validate()
			_ = cfg.Redacted()
		}
	})
}
