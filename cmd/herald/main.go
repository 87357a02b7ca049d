// Command herald is the Herald push server and its tools.
//
//	herald serve     run the hub
//	herald version   print the version
//
// Run "herald help" for the list, and "herald <command> -h" for a
// command's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// A command is one of herald's subcommands.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) int
}

// env is what a command may touch of the outside world; tests replace it.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "run the hub", runServe},
		{"sub", "print the events of an SSE stream or Mercure topics", runSub},
		{"pub", "publish an update to a Mercure hub", runPub},
		{"token", "mint a publisher or subscriber token (draft-07 or draft-08)", runToken},
		{"bench", "measure a Mercure hub: idle, fanout, latency, overload", runBench},
		{"backup", "copy a bolt:// history file, online through the admin socket or offline", runBackup},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(e.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "herald: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Herald: a push server on Server-Sent Events that speaks Mercure.")
	fmt.Fprintln(w, "\nUsage: herald <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"herald <command> -h\" for a command's flags.")
}
