package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
)

// ErrUsage reports bad flags or arguments; the message and the usage text
// have been printed already. Programs exit with status 2 for it.
var ErrUsage = errors.New("usage")

// RunFunc is the body of a program: it parses args (without the program
// name), writes its results to stdout and progress and diagnostics to
// stderr, and returns nil on success.
type RunFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// Main runs a program until it returns or SIGINT or SIGTERM cancels its
// context, then exits with [ExitCode]'s status after printing the error
// (see [PrintError]).
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	PrintError(os.Stderr, name, err)
	os.Exit(ExitCode(err))
}

// ExitCode is the exit status for a program's error: 0 for nil, 2 for
// [ErrUsage], 1 for anything else (a failure, a lock held by another
// process, problems found).
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	return 1
}

// PrintError writes err to w as "name: error" — nothing for nil or
// [ErrUsage], whose message is already out. A lock error gets a second
// line that says how to find and close the process holding the file.
func PrintError(w io.Writer, name string, err error) {
	if err == nil || errors.Is(err, ErrUsage) {
		return
	}
	fmt.Fprintf(w, "%s: %v\n", name, err)
	var le *dbx.LockError
	if errors.As(err, &le) {
		who := "the process that holds it"
		if le.PID != 0 {
			who = fmt.Sprintf("%s (PID %d)", le.Exe, le.PID)
		}
		fmt.Fprintf(w, "%s: the database is locked: close %s or wait until it is done, then run again; `healthsim locks --db %s` shows who holds it.\n",
			name, who, le.Path)
	}
}

// NewFlagSet returns a flag set for program name that prints its errors
// and usage (synopsis, then the flags) to stderr.
func NewFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args for a program that takes flags only. It returns
// [flag.ErrHelp] for -h (the usage is printed: see [HelpOK]) and [ErrUsage]
// for a bad flag or any positional argument.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage // the flag package printed what was wrong and the usage
	}
	if fs.NArg() > 0 {
		return UsageError(fs, "unexpected argument %q (every option is a flag)", fs.Arg(0))
	}
	return nil
}

// UsageError prints "name: message" and the usage to the flag set's
// output, and returns [ErrUsage].
func UsageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return ErrUsage
}

// HelpOK turns [flag.ErrHelp] into success: -h printed the usage and
// nothing else is to be done.
func HelpOK(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// Logger returns the logger programs give dbx: warnings and errors, as
// text, on w.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// DefaultPause is the default time a program that writes in many windows
// leaves between them. Readers of other dbx processes check every few
// milliseconds whether a writer is done; without a pause, the next window
// would start before any of them got in.
const DefaultPause = 50 * time.Millisecond

// Pause waits d between two write windows, or until ctx ends.
func Pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
