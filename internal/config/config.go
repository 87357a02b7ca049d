// Package config layers a command's settings from three sources on top of
// its flag definitions: command-line flags, environment variables and a
// YAML configuration file, with that precedence, over the flags' defaults.
//
// The flag set is the single definition of what can be configured: a file
// key is a flag's name (--history-size is history-size: in the file) and an
// environment variable is the name in upper case with a prefix
// (HERALD_HISTORY_SIZE). A flag added to the set is therefore configurable
// from every source without further code, and the same parser validates
// the value whatever its source. Errors name the key and where it came
// from: the variable, or the file and line.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A Source says where a setting's value came from.
type Source uint8

// Sources, from the weakest to the strongest.
const (
	Default Source = iota // the flag's default
	File                  // the configuration file
	Env                   // an environment variable
	Flag                  // the command line
)

// String returns "default", "file", "env" or "flag".
func (s Source) String() string {
	switch s {
	case File:
		return "file"
	case Env:
		return "env"
	case Flag:
		return "flag"
	}
	return "default"
}

// A Lister is a list-valued flag.Value. Its key accepts a YAML sequence in
// the configuration file (each element is passed to Set in turn) as well
// as a single comma-separated string.
type Lister interface {
	flag.Value
	// Strings returns the list's elements.
	Strings() []string
}

// Options says where Apply finds the environment and the file.
type Options struct {
	// EnvPrefix is put before a flag's upper-cased name to make its
	// environment variable, e.g. "HERALD_".
	EnvPrefix string

	// Getenv reads an environment variable; nil means no environment.
	Getenv func(string) string

	// FileFlag is the flag that names the configuration file, e.g.
	// "config". Its value may come from the command line or the
	// environment, never from the file itself. Empty means no file.
	FileFlag string

	// NotInFile lists further flags that a file may not set (such as a
	// flag that asks for a one-off action).
	NotInFile []string

	// ReadFile reads the configuration file; nil means os.ReadFile.
	ReadFile func(string) ([]byte, error)
}

// EnvName returns the environment variable for a flag: prefix, then the
// name upper-cased with dashes and dots as underscores.
func EnvName(prefix, flagName string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + strings.ToUpper(r.Replace(flagName))
}

// Result records where each setting came from, for --print-config and for
// messages that need to say which source set a value.
type Result struct {
	fs      *flag.FlagSet
	prefix  string
	sources map[string]Source
	lines   map[string]int // file line of each key the file set
	// File is the configuration file that was read, or "".
	File string
}

// Source returns where the named flag's value came from.
func (r *Result) Source(name string) Source { return r.sources[name] }

// Origin describes where the named flag's value came from, for messages:
// "flag --addr", "env HERALD_ADDR", "herald.yaml:3" or "default".
func (r *Result) Origin(name string) string {
	switch r.sources[name] {
	case Flag:
		return "flag --" + name
	case Env:
		return "env " + EnvName(r.prefix, name)
	case File:
		return fmt.Sprintf("%s:%d", r.File, r.lines[name])
	}
	return "default"
}

// An Error is a setting that could not be applied. It names the key and
// its source.
type Error struct {
	Source Source // where the setting came from
	Key    string // the flag name, or the unknown file key
	Env    string // the environment variable, for Source Env
	File   string // for Source File
	Line   int    // for Source File
	Value  string // the value that was refused
	Msg    string // why: the flag package's error, or the file's
}

// Error names the setting's source (variable, file and line, or flag), the
// key and what is wrong.
func (e *Error) Error() string {
	switch e.Source {
	case Env:
		return fmt.Sprintf("%s: invalid value %q for %s: %s", e.Env, e.Value, e.Key, e.Msg)
	case File:
		if e.Key == "" {
			return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
		}
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("--%s: %s", e.Key, e.Msg)
}

// Apply fills every flag of fs that the command line did not set from its
// environment variable, then every flag still unset from the configuration
// file, if one is named. fs must already be parsed. Unknown file keys,
// values that do not parse and a malformed file are errors.
func Apply(fs *flag.FlagSet, opts Options) (*Result, error) {
	res := &Result{fs: fs, prefix: opts.EnvPrefix, sources: map[string]Source{}, lines: map[string]int{}}
	fs.Visit(func(f *flag.Flag) { res.sources[f.Name] = Flag })

	if opts.Getenv != nil {
		var errs []error
		fs.VisitAll(func(f *flag.Flag) {
			if res.sources[f.Name] == Flag {
				return
			}
			name := EnvName(opts.EnvPrefix, f.Name)
			v := opts.Getenv(name)
			if v == "" {
				return
			}
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, &Error{Source: Env, Key: f.Name, Env: name, Value: v, Msg: describe(f, err)})
				return
			}
			res.sources[f.Name] = Env
		})
		if len(errs) > 0 {
			return res, errors.Join(errs...)
		}
	}

	if opts.FileFlag == "" {
		return res, nil
	}
	ff := fs.Lookup(opts.FileFlag)
	if ff == nil {
		return res, fmt.Errorf("config: no flag %q names the configuration file", opts.FileFlag)
	}
	path := ff.Value.String()
	if path == "" {
		return res, nil
	}
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(path)
	if err != nil {
		return res, fmt.Errorf("configuration file (from %s): %w", describeOrigin(res, opts, opts.FileFlag), err)
	}
	res.File = path
	notInFile := map[string]bool{opts.FileFlag: true}
	for _, n := range opts.NotInFile {
		notInFile[n] = true
	}
	return res, applyFile(fs, res, path, data, notInFile)
}

func describeOrigin(res *Result, opts Options, name string) string {
	if res.sources[name] == Env {
		return EnvName(opts.EnvPrefix, name)
	}
	return "--" + name
}

// applyFile sets flags from a YAML mapping of flag names to values.
func applyFile(fs *flag.FlagSet, res *Result, path string, data []byte, notInFile map[string]bool) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 errors already say "yaml: line N: ...".
		return fmt.Errorf("%s: %w", path, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil // an empty file configures nothing
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return &Error{Source: File, File: path, Line: root.Line, Msg: "the configuration must be a mapping of keys to values (key: value, one a line)"}
	}
	var errs []error
	fileErr := func(line int, key, msg string) {
		errs = append(errs, &Error{Source: File, File: path, Line: line, Key: key, Msg: msg})
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			fileErr(k.Line, "", "a key must be a plain name")
			continue
		}
		key := k.Value
		if first, dup := seen[key]; dup {
			fileErr(k.Line, key, fmt.Sprintf("repeated (first set at line %d)", first))
			continue
		}
		seen[key] = k.Line
		f := fs.Lookup(key)
		if f == nil {
			msg := "unknown key"
			if s := suggest(fs, key); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			}
			fileErr(k.Line, key, msg)
			continue
		}
		if notInFile[key] {
			fileErr(k.Line, key, "cannot be set in a configuration file")
			continue
		}
		for v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias
		}
		var values []string
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				fileErr(v.Line, key, "has no value (write key: value, or remove the line)")
				continue
			}
			values = []string{v.Value}
		case yaml.SequenceNode:
			if _, ok := f.Value.(Lister); !ok {
				fileErr(v.Line, key, "takes one value, not a list")
				continue
			}
			bad := false
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
					fileErr(e.Line, key, "a list element must be a plain value")
					bad = true
					break
				}
				values = append(values, e.Value)
			}
			if bad {
				continue
			}
		default:
			fileErr(v.Line, key, "takes a value, not a mapping")
			continue
		}
		if res.sources[key] > File {
			continue // the command line or the environment wins
		}
		for _, val := range values {
			if err := fs.Set(key, val); err != nil {
				errs = append(errs, &Error{Source: File, File: path, Line: v.Line, Key: key, Value: val,
					Msg: fmt.Sprintf("invalid value %q: %s", val, describe(f, err))})
				break
			}
		}
		res.sources[key] = File
		res.lines[key] = k.Line
	}
	return errors.Join(errs...)
}

// describe turns a flag parse error into a sentence that says what the
// flag expects. The flag package's own errors for its basic types are just
// "parse error".
func describe(f *flag.Flag, err error) string {
	hint := ""
	if g, ok := f.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			hint = "expected true or false"
		case time.Duration:
			hint = "expected a duration such as 500ms, 30s, 5m or 1h30m"
		case int, int64:
			hint = "expected an integer"
		case uint, uint64:
			hint = "expected a non-negative integer"
		case float64:
			hint = "expected a number"
		}
	}
	msg := err.Error()
	if hint == "" {
		return msg
	}
	if strings.Contains(msg, "out of range") {
		return hint + " (value out of range)"
	}
	return hint
}

// suggest returns the flag name closest to a misspelt key, if one is close.
func suggest(fs *flag.FlagSet, key string) string {
	best, bestD := "", 3
	norm := strings.ReplaceAll(strings.ToLower(key), "_", "-")
	fs.VisitAll(func(f *flag.Flag) {
		if norm == f.Name {
			best, bestD = f.Name, 0
			return
		}
		if d := distance(norm, f.Name); d < bestD {
			best, bestD = f.Name, d
		}
	})
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// PrintOptions controls Print.
type PrintOptions struct {
	// Header is written first as a YAML comment, one line each.
	Header []string
	// Skip leaves flags out of the output (e.g. the print flag itself).
	Skip func(name string) bool
	// IsSecret says which flags hold secrets; their values are masked. Nil
	// means IsSecretName.
	IsSecret func(name string) bool
}

// Print writes the effective configuration as a YAML file that Apply
// would accept, with each value's source as a comment. Secret values are
// masked, and so are passwords and secret parameters inside URLs.
func (r *Result) Print(w io.Writer, opts PrintOptions) error {
	isSecret := opts.IsSecret
	if isSecret == nil {
		isSecret = IsSecretName
	}
	root := &yaml.Node{Kind: yaml.MappingNode}
	var names []string
	r.fs.VisitAll(func(f *flag.Flag) {
		if opts.Skip == nil || !opts.Skip(f.Name) {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	for _, name := range names {
		f := r.fs.Lookup(name)
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: name}
		var val *yaml.Node
		if l, ok := f.Value.(Lister); ok {
			val = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
			for _, s := range l.Strings() {
				if isSecret(name) {
					s = Masked
				} else {
					s = Mask(s)
				}
				val.Content = append(val.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: s, Tag: "!!str"})
			}
		} else {
			s := f.Value.String()
			g, ok := f.Value.(flag.Getter)
			plain := ok && isPlainScalar(g.Get())
			switch {
			case plain: // booleans and numbers hold no secret
			case isSecret(name) && s != "":
				s = Masked
			default:
				s = Mask(s)
			}
			val = &yaml.Node{Kind: yaml.ScalarNode, Value: s}
			if !plain {
				val.Tag = "!!str"
			}
		}
		val.LineComment = r.Origin(name)
		root.Content = append(root.Content, key, val)
	}
	var buf bytes.Buffer
	for _, h := range opts.Header {
		buf.WriteString("# " + h + "\n")
	}
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("config: print: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func isPlainScalar(v any) bool {
	switch v.(type) {
	case bool, int, int64, uint, uint64, float64:
		return true
	}
	return false
}
