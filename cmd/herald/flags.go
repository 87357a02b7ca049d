package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/heraldpush/herald/internal/config"
)

// envPrefix starts the environment variable of every flag.
const envPrefix = "HERALD_"

// envName is the environment variable that stands in for a flag:
// --history-size is HERALD_HISTORY_SIZE.
func envName(flagName string) string { return config.EnvName(envPrefix, flagName) }

// applyEnv sets every flag not given on the command line from its
// environment variable, if that is set. Flags win over the environment.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	_, err := config.Apply(fs, config.Options{EnvPrefix: envPrefix, Getenv: getenv})
	return err
}

// loadConfig layers the environment and the configuration file named by
// --config (or HERALD_CONFIG) under the flags given on the command line:
// flag > environment > file > default. Every flag of fs is a file key and
// has a variable, so flags added later are configurable everywhere.
// notInFile names flags that only make sense on the command line.
func loadConfig(fs *flag.FlagSet, getenv func(string) string, notInFile ...string) (*config.Result, error) {
	return config.Apply(fs, config.Options{
		EnvPrefix: envPrefix,
		Getenv:    getenv,
		FileFlag:  "config",
		NotInFile: notInFile,
	})
}

// newFlagSet returns the flag set of "herald name", which prints its
// errors and its -h output on e.stderr: usage, when not empty, followed by
// the flags.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprint(e.stderr, usage)
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseExit is a command's exit status when parsing its flags failed: 0
// after -h or --help (the usage was printed), 2 for a bad flag (the flag
// package printed the error).
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

// listFlag is a flag that takes a comma-separated list, or is repeated. In
// a configuration file it is a YAML list or a comma-separated string.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

// Strings returns the list (config.Lister).
func (l *listFlag) Strings() []string { return *l }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}
