package testbin

import (
	"fmt"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	if p := Find([]string{"no-such-program-herald"}, "/no/such/file"); p != "" {
		t.Errorf("Find of missing programs = %q, want \"\"", p)
	}
	if p := Find([]string{"no-such-program-herald", "go"}); filepath.Base(p) != "go" {
		t.Errorf("Find(go) = %q, want the go command on PATH", p)
	}
	dir := t.TempDir()
	if p := Find(nil, dir); p != "" {
		t.Errorf("Find took the directory %q for a program", p)
	}
	if p := Find([]string{"no-such-program-herald"}, "/no/such/file", "/bin/sh"); p != "/bin/sh" {
		t.Errorf("Find with fallbacks = %q, want /bin/sh", p)
	}
}

// recorder is a testing.TB that records Fatal and Skip instead of ending
// the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Fatal(args ...any) { r.fatal = fmt.Sprint(args...) }
func (r *recorder) Skip(args ...any)  { r.skip = fmt.Sprint(args...) }

func TestRequire(t *testing.T) {
	const missing = "x is not installed: the x tests did NOT run"
	for _, c := range []struct {
		ci                string
		path              string
		want, fatal, skip string
	}{
		{ci: "true", path: "/bin/x", want: "/bin/x"},
		{ci: "", path: "/bin/x", want: "/bin/x"},
		{ci: "true", fatal: missing},
		{ci: "", skip: "SKIPPED: " + missing},
		{ci: "false", skip: "SKIPPED: " + missing},
	} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		got := Require(r, c.path, missing)
		if got != c.want || r.fatal != c.fatal || r.skip != c.skip {
			t.Errorf("CI=%q, path %q: got %q, fatal %q, skip %q; want %q, %q, %q",
				c.ci, c.path, got, r.fatal, r.skip, c.want, c.fatal, c.skip)
		}
	}
}
