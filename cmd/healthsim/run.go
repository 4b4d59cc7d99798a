package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"golang.org/x/term"
)

// errUsage reports bad arguments after the usage text has been printed.
var errUsage = cli.ErrUsage

var usage = `healthsim shares one HealthSim DuckDB file between many processes.

Usage: healthsim COMMAND [flags]

Commands:
  serve          serve the HealthSim MCP tools (stdio, or HTTP with --http)
  query "SQL"    run one read-only SELECT and print the rows
  migrate VERB   apply or inspect schema migrations (healthsim migrate -h)
  locks          show which processes hold the database file
  version        print the version (also --version)
  storage VERB   info: storage version, size and tables; upgrade, downgrade: rewrite it
  reference VERB load-sample, import TABLE FILE.csv, status: population reference data

Every command takes --db PATH (default: $HEALTHSIM_DB_PATH, else
` + cli.DefaultPathHelp + `), --busy-timeout DURATION and
--storage-version VERSION (of a database it creates; default
$HEALTHSIM_STORAGE_VERSION, else ` + dbx.DefaultStorageVersion + `, which DuckDB 1.4 and later open).
Only serve, migrate up (up-by-one, up-to) and reference load-sample and
import create a missing database; the others say "no database at PATH"
and create nothing.
`

// Run runs the healthsim command line args (without the program name).
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	env := &env{stdin: stdin, stdout: stdout, stderr: stderr, terminal: isTerminal(stdin)}
	switch args[0] {
	case "serve":
		return (&ServeCommand{env: env}).Run(ctx, args[1:])
	case "query":
		return (&QueryCommand{env: env}).Run(ctx, args[1:])
	case "migrate":
		return (&MigrateCommand{env: env}).Run(ctx, args[1:])
	case "locks":
		return (&LocksCommand{env: env}).Run(ctx, args[1:])
	case "storage":
		return (&StorageCommand{env: env}).Run(ctx, args[1:])
	case "reference":
		return (&ReferenceCommand{env: env}).Run(ctx, args[1:])
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "healthsim %s (%s/%s, %s, DuckDB %s)\n", buildVersion(), runtime.GOOS, runtime.GOARCH, runtime.Version(), duckdbVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "healthsim: unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

// env is what every command writes to and reads from.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	terminal       bool // stdin is a terminal: a person can answer questions there
}

// duckdbVersion is the version of the DuckDB linked in ("v2.0.0"), as an
// in-memory instance reports it.
func duckdbVersion() string {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer db.Close()
	var v string
	if err := db.QueryRow("SELECT version()").Scan(&v); err != nil {
		return "unknown: " + err.Error()
	}
	return v
}

// confirm asks on the terminal before command does what (a phrase: "roll
// back …"), reading the answer from stdin. With yes (--yes) it does not
// ask; without a terminal it refuses unless yes.
func (e *env) confirm(command, what string, yes bool) error {
	if yes {
		return nil
	}
	if !e.terminal {
		return fmt.Errorf("%s would %s. Nothing was changed: there is no terminal to ask on, so pass --yes to do it", command, what)
	}
	fmt.Fprintf(e.stderr, "%s will %s.\nContinue? [y/N] ", command, what)
	answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("%s: not confirmed; nothing was changed", command)
	}
	return nil
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logger is what the commands give dbx: warnings and errors, on stderr.
func (e *env) logger() *slog.Logger { return cli.Logger(e.stderr) }

// parse parses flags placed before, between or after positional arguments,
// as users type them, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
