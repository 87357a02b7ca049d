package bench

import (
	"strings"
	"testing"
)

func TestParseSources(t *testing.T) {
	got, err := ParseSources("127.0.0.1-127.0.0.3, 127.0.1.9,127.0.0.254-127.0.1.1")
	if err != nil {
		t.Fatal(err)
	}
	want := "127.0.0.1 127.0.0.2 127.0.0.3 127.0.1.9 127.0.0.254 127.0.0.255 127.0.1.0 127.0.1.1"
	if s := strings.Join(formatSources(got), " "); s != want {
		t.Fatalf("got %s, want %s", s, want)
	}
	for _, bad := range []string{"x", "127.0.0.5-127.0.0.1", "127.0.0.1-::1", "127.0.0.1-", "10.0.0.0-10.255.255.255"} {
		if _, err := ParseSources(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Scenario: Fanout, Hub: "http://127.0.0.1:1/hub"}.Defaults()
	if c.Subscribers != 1000 || c.Publishers != 4 || c.Updates != 20000 || c.Rate != 0 {
		t.Fatalf("fanout defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Config{Scenario: Latency, Hub: "http://127.0.0.1:1/hub", Subscribers: 5}.Defaults()
	if c.Subscribers != 5 || c.Rate != 2 || c.Publishers != 1 {
		t.Fatalf("latency defaults: %+v", c)
	}
	bad := []Config{
		{Scenario: "nope", Hub: "http://x/"},
		{Scenario: Fanout},
		{Scenario: Fanout, Hub: "https://x/"},
		{Scenario: Fanout, Hub: "http://x/", Payload: 10},
		{Scenario: Fanout, Hub: "http://x/", Updates: 2, Publishers: 3},
		{Scenario: Overload, Hub: "http://x/", Rate: -1},
	}
	for i, b := range bad {
		b = b.Defaults()
		if err := b.Validate(); err == nil {
			t.Errorf("config %d validated: %+v", i, b)
		}
	}
	if tok := (&Config{Token: "p", SubToken: "s", Anonymous: true}).subscriberToken(); tok != "" {
		t.Errorf("anonymous sends %q", tok)
	}
	if tok := (&Config{Token: "p"}).subscriberToken(); tok != "p" {
		t.Errorf("default sub token %q", tok)
	}
}
