package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	flagsBegin = "<!-- flags:begin (generated: HERALD_UPDATE_DOCS=1 go test -run TestConfigurationDoc ./cmd/herald) -->"
	flagsEnd   = "<!-- flags:end -->"
)

// flagTable renders herald serve's flags as a Markdown table.
func flagTable() string {
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	var cfg serveConfig
	cfg.flags(fs)
	var b strings.Builder
	b.WriteString("| Key (flag, file) | Environment | Default | Meaning |\n|---|---|---|---|\n")
	fs.VisitAll(func(f *flag.Flag) {
		def := f.DefValue
		if def == "" || def == "[]" {
			def = " "
		} else {
			def = "`" + def + "`"
		}
		usage := strings.ReplaceAll(f.Usage, "|", `\|`)
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", f.Name, envName(f.Name), def, usage)
	})
	return b.String()
}

// TestConfigurationDoc keeps the flag reference of docs/configuration.md
// complete: every flag of herald serve must be in it. With
// HERALD_UPDATE_DOCS=1 it rewrites the table.
func TestConfigurationDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "configuration.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, flagsBegin), strings.Index(text, flagsEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated flag table between %q and %q", path, flagsBegin, flagsEnd)
	}
	if os.Getenv(updateDocsEnv) == "1" {
		text = text[:i] + flagsBegin + "\n" + flagTable() + text[j:]
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	table := text[i:j]
	fs := flag.NewFlagSet("herald serve", flag.ContinueOnError)
	var cfg serveConfig
	cfg.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !regexp.MustCompile("\\| `" + regexp.QuoteMeta(f.Name) + "` \\|").MatchString(table) {
			t.Errorf("docs/configuration.md does not list --%s: run %s=1 go test -run TestConfigurationDoc ./cmd/herald", f.Name, updateDocsEnv)
		}
	})
}

func TestVersion(t *testing.T) {
	out := &syncBuffer{}
	if code := run(context.Background(), &env{stdout: out, stderr: out, getenv: func(string) string { return "" }}, []string{"version"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !regexp.MustCompile(`^herald \S+ .*go1\.\d+`).MatchString(out.String()) {
		t.Errorf("version output %q", out)
	}
}

// TestSystemdExampleConfig checks that the example configuration shipped
// with the systemd unit is accepted.
func TestSystemdExampleConfig(t *testing.T) {
	out := &syncBuffer{}
	e := &env{stdout: out, stderr: out, getenv: func(k string) string {
		if k == "HERALD_JWT_KEY" {
			return "example"
		}
		return ""
	}}
	path := filepath.Join("..", "..", "deploy", "systemd", "herald.yaml")
	if code := run(context.Background(), e, []string{"serve", "--config", path, "--print-config"}); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if !strings.Contains(out.String(), "transport: bolt:///var/lib/herald/herald.db # "+path) {
		t.Errorf("the example file's settings were not applied:\n%s", out)
	}
}
