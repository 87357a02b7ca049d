// Package testbin finds the programs that tests run (redis-server, nginx,
// Chromium, the go command) and applies the project's rule when one is
// missing: when the environment variable CI is "true" the test fails, since
// in CI a missing program is a broken setup, not a reason to pass;
// otherwise the test is skipped with a loud reason, so that a developer
// sees what did not run.
package testbin

import (
	"os"
	"os/exec"
	"testing"
)

// Find returns the path of the first of names found on PATH or, failing
// that, the first of fallbacks (absolute paths, for programs installed
// outside PATH, such as /usr/sbin/nginx for a user without sbin in PATH)
// that is a regular file. It returns "" when there is none.
func Find(names []string, fallbacks ...string) string {
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, p := range fallbacks {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Require returns path when it is not empty. An empty path means the
// program is missing: under CI=true the test fails with missing as its
// message; otherwise it is skipped with "SKIPPED: " and missing. missing
// should name the program, how to install it and what did not run, e.g.
// "nginx is not installed (apt-get install nginx): the tests through
// nginx did NOT run".
func Require(t testing.TB, path, missing string) string {
	t.Helper()
	if path != "" {
		return path
	}
	if InCI() {
		t.Fatal(missing)
	} else {
		t.Skip("SKIPPED: " + missing)
	}
	return ""
}

// InCI reports whether the tests run in CI (the environment variable CI is
// "true"), where nothing they need may be missing.
func InCI() bool { return os.Getenv("CI") == "true" }
