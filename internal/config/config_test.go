package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type list []string

func (l *list) String() string    { return strings.Join(*l, ",") }
func (l *list) Strings() []string { return *l }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type settings struct {
	addr      string
	heartbeat time.Duration
	size      int
	anonymous bool
	origins   list
	jwtKey    string
	transport string
	config    string
	print     bool
}

func newFlags(s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.addr, "addr", "localhost:8080", "")
	fs.DurationVar(&s.heartbeat, "heartbeat", 15*time.Second, "")
	fs.IntVar(&s.size, "history-size", 10000, "")
	fs.BoolVar(&s.anonymous, "anonymous", false, "")
	fs.Var(&s.origins, "cors-origins", "")
	fs.StringVar(&s.jwtKey, "jwt-key", "", "")
	fs.StringVar(&s.transport, "transport", "memory://", "")
	fs.StringVar(&s.config, "config", "", "")
	fs.BoolVar(&s.print, "print-config", false, "")
	return fs
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "herald.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args []string, env map[string]string) (*settings, *Result, error) {
	t.Helper()
	var s settings
	fs := newFlags(&s)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	res, err := Apply(fs, Options{
		EnvPrefix: "HERALD_",
		Getenv:    func(k string) string { return env[k] },
		FileFlag:  "config",
		NotInFile: []string{"print-config"},
	})
	return &s, res, err
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
addr: file:1
heartbeat: 1s
history-size: 1
anonymous: true
cors-origins: [https://a.example, https://b.example]
`)
	env := map[string]string{
		"HERALD_CONFIG":       file,
		"HERALD_HEARTBEAT":    "2s",
		"HERALD_HISTORY_SIZE": "2",
	}
	s, res, err := load(t, []string{"--history-size", "3"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "file:1" || res.Source("addr") != File {
		t.Errorf("addr = %q from %v, want the file's", s.addr, res.Source("addr"))
	}
	if s.heartbeat != 2*time.Second || res.Source("heartbeat") != Env {
		t.Errorf("heartbeat = %v from %v, want env's 2s", s.heartbeat, res.Source("heartbeat"))
	}
	if s.size != 3 || res.Source("history-size") != Flag {
		t.Errorf("history-size = %d from %v, want the flag's 3", s.size, res.Source("history-size"))
	}
	if !s.anonymous {
		t.Error("anonymous not set from the file")
	}
	if got := strings.Join(s.origins, " "); got != "https://a.example https://b.example" {
		t.Errorf("cors-origins = %q", got)
	}
	if s.transport != "memory://" || res.Source("transport") != Default {
		t.Errorf("transport = %q from %v, want the default", s.transport, res.Source("transport"))
	}
	if got := res.Origin("addr"); got != file+":2" {
		t.Errorf("Origin(addr) = %q, want %s:2", got, file)
	}
	if got := res.Origin("heartbeat"); got != "env HERALD_HEARTBEAT" {
		t.Errorf("Origin(heartbeat) = %q", got)
	}
}

func TestFileFromFlagBeatsEnv(t *testing.T) {
	a := writeFile(t, "addr: a:1\n")
	b := writeFile(t, "addr: b:1\n")
	s, _, err := load(t, []string{"--config", b}, map[string]string{"HERALD_CONFIG": a})
	if err != nil {
		t.Fatal(err)
	}
	if s.addr != "b:1" {
		t.Errorf("addr = %q, want the --config file's", s.addr)
	}
}

func TestFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", "addr: x:1\n\nhearbeat: 5s\n", []string{":3: hearbeat: unknown key (did you mean heartbeat?)"}},
		{"snake case", "history_size: 5\n", []string{":1: history_size: unknown key (did you mean history-size?)"}},
		{"bad duration", "addr: x:1\nheartbeat: soon\n", []string{":2: heartbeat: invalid value \"soon\": expected a duration"}},
		{"bad bool", "anonymous: yes please\n", []string{":1: anonymous: invalid value \"yes please\": expected true or false"}},
		{"bad int", "history-size: many\n", []string{":1: history-size: invalid value \"many\": expected an integer"}},
		{"list for scalar", "addr: [a, b]\n", []string{":1: addr: takes one value, not a list"}},
		{"mapping", "addr:\n  host: x\n", []string{":2: addr: takes a value, not a mapping"}},
		{"null", "addr:\n", []string{":1: addr: has no value"}},
		{"repeated", "addr: a:1\naddr: b:1\n", []string{":2: addr: repeated (first set at line 1)"}},
		{"config in file", "config: other.yaml\n", []string{":1: config: cannot be set in a configuration file"}},
		{"action in file", "print-config: true\n", []string{":1: print-config: cannot be set"}},
		{"not a mapping", "- addr\n", []string{":1: the configuration must be a mapping"}},
		{"syntax", "addr: x\n  bad: [\n", []string{"yaml: line"}},
		{"two errors", "nope: 1\nheartbeat: x\n", []string{":1: nope: unknown key", ":2: heartbeat: invalid value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, tc.text)
			_, _, err := load(t, []string{"--config", file}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestFileErrorIsTyped(t *testing.T) {
	file := writeFile(t, "addr: a:1\nheartbeat: x\n")
	_, _, err := load(t, []string{"--config", file}, nil)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v is not a *config.Error", err)
	}
	if ce.Key != "heartbeat" || ce.Line != 2 || ce.Source != File || ce.File != file {
		t.Errorf("error = %+v", ce)
	}
}

func TestFlagOverridesBadFileValue(t *testing.T) {
	// A value the command line overrides is not parsed, but its key must
	// still exist.
	file := writeFile(t, "heartbeat: 5s\n")
	s, _, err := load(t, []string{"--config", file, "--heartbeat", "7s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.heartbeat != 7*time.Second {
		t.Errorf("heartbeat = %v", s.heartbeat)
	}
}

func TestEnvErrors(t *testing.T) {
	_, _, err := load(t, nil, map[string]string{"HERALD_HEARTBEAT": "soon", "HERALD_ANONYMOUS": "maybe"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{
		`HERALD_HEARTBEAT: invalid value "soon" for heartbeat: expected a duration`,
		`HERALD_ANONYMOUS: invalid value "maybe" for anonymous: expected true or false`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, _, err := load(t, nil, map[string]string{"HERALD_CONFIG": "/nonexistent/herald.yaml"})
	if err == nil || !strings.Contains(err.Error(), "HERALD_CONFIG") || !strings.Contains(err.Error(), "/nonexistent/herald.yaml") {
		t.Fatalf("error = %v, want one naming HERALD_CONFIG and the path", err)
	}
}

func TestEmptyFile(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "---\n"} {
		file := writeFile(t, text)
		if _, _, err := load(t, []string{"--config", file}, nil); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
}

func TestPrintRoundTrip(t *testing.T) {
	file := writeFile(t, "transport: redis://user:hunter2@redis.internal:6379/0\ncors-origins: [https://a.example]\n")
	_, res, err := load(t, []string{"--config", file, "--jwt-key", "s3cret-value", "--anonymous"}, map[string]string{"HERALD_HEARTBEAT": "20s"})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = res.Print(&out, PrintOptions{Header: []string{"effective"}, Skip: func(n string) bool { return n == "print-config" || n == "config" }})
	if err != nil {
		t.Fatal(err)
	}
	text := out.String()
	t.Log(text)
	for _, secret := range []string{"hunter2", "s3cret-value"} {
		if strings.Contains(text, secret) {
			t.Errorf("printed configuration shows the secret %q", secret)
		}
	}
	for _, want := range []string{
		"# effective\n",
		"jwt-key: '" + Masked + "' # flag --jwt-key",
		"heartbeat: 20s # env HERALD_HEARTBEAT",
		"anonymous: true # flag --anonymous",
		"redis://user:xxxxx@redis.internal:6379/0 # " + file + ":1",
		"cors-origins: ['https://a.example'] # " + file + ":2",
		"history-size: 10000 # default",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(text, "print-config") {
		t.Error("skipped flag printed")
	}
	// What is printed loads back (masked secrets aside).
	again := writeFile(t, text)
	if _, _, err := load(t, []string{"--config", again}, nil); err != nil {
		t.Errorf("printed configuration does not load: %v", err)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"jwt-key": true, "publisher-jwt-key": true, "subscriber-jwt-key": true,
		"password": true, "redis-password": true, "token": true, "client-secret": true,
		"tls-key": false, "tls-cert": false, "jwt-key-file": false, "password-file": false,
		"jwks-url": false, "public-key": false, "cookie-name": false, "addr": false,
		"transport": false, "history-size": false, "publish-rate": false,
	} {
		if got := IsSecretName(name); got != want {
			t.Errorf("IsSecretName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestMask(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJtZXJjdXJlIjp7fX0.c2lnbmF0dXJl"
	for in, want := range map[string]string{
		"memory://":                                 "memory://",
		"redis://:pw@h:6379/0":                      "redis://:xxxxx@h:6379/0",
		"rediss://u:pw@h:6379/0?size=5":             "rediss://u:xxxxx@h:6379/0?size=5",
		"nats://tok@h:4222":                         "nats://xxxxx@h:4222",
		"nats://h:4222?token=abc&size=5":            "nats://h:4222?size=5&token=xxxxx",
		"redis+sentinel://:pw@a:1,b:2/mymaster?x=1": "redis+sentinel://:xxxxx@a:1,b:2/mymaster?x=1",
		"bolt:///var/lib/herald/herald.db":          "bolt:///var/lib/herald/herald.db",
		jwt:                                         Masked,
		"plain":                                     "plain",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
