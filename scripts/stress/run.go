package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/healthsim/healthsim-go/internal/cli"
)

// errFailed reports a run whose summary (already printed) shows errors or
// lost writes.
var errFailed = errors.New("the run had errors or lost writes")

// maxDuration bounds --duration: the command is a test, not a service.
const maxDuration = 10 * time.Minute

// config is what one run does.
type config struct {
	processes    int
	duration     time.Duration
	saveEvery    time.Duration
	entities     int
	db           string // the database file; "" before prepare
	binary       string // the healthsim binary; "" before prepare
	busyTimeout  time.Duration
	queryTimeout time.Duration
	share        bool // the servers share one server (healthsim serve --share)
}

const synopsis = `go run ./scripts/stress [flags]

Starts --processes "healthsim serve" processes (stdio) on one database file,
each driven by its own MCP client that reads without pause and saves a
scenario of --entities entities every --save-every, for --duration. Then
interrupts them, reads the file back and prints a summary. Exit status 1
if any call failed or any acknowledged save is missing or incomplete.`

// run runs the stress command with args (without the program name),
// printing the summary to stdout and progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return cli.HelpOK(err)
	}
	cleanup, err := cfg.prepare(ctx, stderr)
	defer cleanup()
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "stress: %d servers on %s for %s (a save of %d entities every %s per server)\n",
		cfg.processes, cfg.db, cfg.duration, cfg.entities, cfg.saveEvery)
	sum, err := runLoad(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	sum.print(stdout)
	if !sum.ok() {
		return errFailed
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := cli.NewFlagSet("stress", synopsis, stderr)
	fs.IntVar(&cfg.processes, "processes", 3, "healthsim serve processes on the file, each with its own client (1-32)")
	fs.DurationVar(&cfg.duration, "duration", 20*time.Second, "how long the load runs (at most 10m)")
	fs.DurationVar(&cfg.saveEvery, "save-every", 100*time.Millisecond, "each client saves a scenario this often")
	fs.IntVar(&cfg.entities, "entities", 20, "entities per saved scenario (1-10000)")
	fs.StringVar(&cfg.db, "db", "", "database file (default: a new file in a temporary folder, removed afterwards)")
	fs.StringVar(&cfg.binary, "binary", "", "healthsim binary (default: go build ./cmd/healthsim into a temporary folder)")
	fs.DurationVar(&cfg.busyTimeout, "busy-timeout", 5*time.Second, "the servers' --busy-timeout")
	fs.DurationVar(&cfg.queryTimeout, "query-timeout", 5*time.Second, "the servers' --query-timeout")
	fs.BoolVar(&cfg.share, "share", false, "start the servers with --share: the first owns the file, the others bridge to it")
	if err := cli.Parse(fs, args); err != nil {
		return cfg, err
	}
	bad := func(format string, a ...any) (config, error) {
		return cfg, cli.UsageError(fs, format, a...)
	}
	switch {
	case cfg.processes < 1 || cfg.processes > 32:
		return bad("--processes must be from 1 to 32, got %d", cfg.processes)
	case cfg.duration <= 0 || cfg.duration > maxDuration:
		return bad("--duration must be positive and at most %s, got %s", maxDuration, cfg.duration)
	case cfg.saveEvery <= 0:
		return bad("--save-every must be positive, got %s", cfg.saveEvery)
	case cfg.entities < 1 || cfg.entities > 10_000:
		return bad("--entities must be from 1 to 10000, got %d", cfg.entities)
	case cfg.busyTimeout < 0:
		return bad("--busy-timeout must not be negative, got %s", cfg.busyTimeout)
	case cfg.queryTimeout <= 0:
		return bad("--query-timeout must be positive, got %s", cfg.queryTimeout)
	}
	return cfg, nil
}

// prepare makes a temporary database path and builds the binary when the
// flags did not name them. cleanup removes what prepare created; it is
// never nil.
func (cfg *config) prepare(ctx context.Context, progress io.Writer) (cleanup func(), err error) {
	var dirs []string
	cleanup = func() {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	if cfg.db == "" {
		dir, err := os.MkdirTemp("", "healthsim-stress-db-")
		if err != nil {
			return cleanup, err
		}
		dirs = append(dirs, dir)
		cfg.db = filepath.Join(dir, "stress.duckdb")
	} else if abs, err := filepath.Abs(cfg.db); err == nil {
		cfg.db = abs
	}
	if cfg.binary == "" {
		dir, err := os.MkdirTemp("", "healthsim-stress-bin-")
		if err != nil {
			return cleanup, err
		}
		dirs = append(dirs, dir)
		fmt.Fprintln(progress, "stress: building healthsim (go build ./cmd/healthsim) ...")
		cfg.binary, err = buildHealthsim(ctx, dir)
		if err != nil {
			return cleanup, err
		}
	}
	return cleanup, nil
}

// buildHealthsim builds cmd/healthsim into dir and returns the binary's
// path. It must run inside the module (go run ./scripts/stress does).
func buildHealthsim(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "healthsim")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/healthsim/healthsim-go/cmd/healthsim").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/healthsim (run this inside the healthsim-go module, or pass --binary): %v\n%s", err, out)
	}
	return bin, nil
}
