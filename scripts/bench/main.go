// Command bench compares the ways a server can share a DuckDB file with
// other processes, on one machine, on generated files of about 1.4 GB and
// 8 MB:
//
//  1. one persistent read-write connection;
//  2. a persistent read-only connection, closed before each write and
//     reopened after;
//  3. open, query, close for every call;
//  4. dbx.
//
// Each strategy runs in its own serving process (this binary run again):
// point reads with 1 and 8 concurrent readers, one-row inserts beside two
// readers, then a trickle of reads (one every 200 ms) while a probe
// process opens the file read-write and read-only with plain duckdb-go
// over and over, as a migration or a notebook would, then an idle tail.
// It writes results.md (a Markdown table), results.json (the same numbers,
// durations in nanoseconds) and chart.png (read latency against
// availability to others) into --out.
//
//	go run ./scripts/bench --out scripts/bench/results
//
// Files are built once into --dir and reused. Nothing listens on the
// network. The exit status is 0 on success, 2 for bad flags, 1 otherwise.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/internal/cli"
)

const name = "bench"

func main() {
	if ok, err := runRole(); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench role:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	cli.Main(name, run)
}

// config is what the flags set.
type config struct {
	dir, out   string
	phase      time.Duration
	idle       time.Duration
	trickle    time.Duration
	sizes      []int
	readers    []int
	strategies []string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, "go run ./scripts/bench [flags]", stderr)
	var c config
	fs.StringVar(&c.dir, "dir", filepath.Join(os.TempDir(), "healthsim-strategies"), "`folder` where the generated database files are built once and kept")
	fs.StringVar(&c.out, "out", "bench-results", "`folder` for results.md and chart.png")
	fs.DurationVar(&c.phase, "duration", 3*time.Second, "length of each phase: reads per reader count, writes, the read trickle")
	fs.DurationVar(&c.idle, "idle", 3*time.Second, "how long the probe goes on after the last read of the trickle")
	fs.DurationVar(&c.trickle, "trickle", 200*time.Millisecond, "pause between reads while the probe runs")
	sizes := fs.String("sizes", "1400,8", "comma-separated file sizes in MB")
	readers := fs.String("readers", "1,8", "comma-separated numbers of concurrent readers")
	strats := fs.String("strategies", strings.Join(strategies, ","), "comma-separated strategies to run")
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	var err error
	if c.sizes, err = parseInts(*sizes); err != nil {
		return cli.UsageError(fs, "--sizes: %v", err)
	}
	if c.readers, err = parseInts(*readers); err != nil {
		return cli.UsageError(fs, "--readers: %v", err)
	}
	c.strategies = strings.Split(*strats, ",")
	for _, s := range c.strategies {
		if !slices.Contains(strategies, s) {
			return cli.UsageError(fs, "--strategies: unknown strategy %q (known: %s)", s, strings.Join(strategies, ", "))
		}
	}
	if c.phase <= 0 || c.idle <= 0 || c.trickle <= 0 {
		return cli.UsageError(fs, "--duration, --idle and --trickle must be positive")
	}
	return bench(ctx, c, stdout, stderr)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// bench runs every strategy on every size and writes the report.
func bench(ctx context.Context, c config, stdout, stderr io.Writer) error {
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var results []result
	writeID := time.Now().UnixNano() // ids inserted into log, unique across runs
	for _, size := range c.sizes {
		path, err := benchFile(ctx, c.dir, size, stderr)
		if err != nil {
			return err
		}
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		for _, s := range c.strategies {
			fmt.Fprintf(stderr, "%d MB, %s…\n", size, strategyLabels[s])
			cfg := serveConfig{Strategy: s, Path: path, Rows: rowsFor(size), Phase: c.phase,
				Readers: c.readers, Trickle: c.trickle, WriteIDs: writeID}
			writeID += 1e9
			r, err := measure(ctx, exe, cfg, c.idle, stderr)
			if err != nil {
				return fmt.Errorf("%d MB, %s: %w", size, s, err)
			}
			r.SizeMB, r.FileBytes = size, info.Size()
			results = append(results, r)
		}
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := table(results, c)
	if err := os.WriteFile(filepath.Join(c.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	if err := chart(results, filepath.Join(c.out, "chart.png")); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprint(stdout, md)
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(c.out, "results.md"), filepath.Join(c.out, "chart.png"))
	return nil
}

// child is a running role process and the lines it prints.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *syncbuf.Buffer
}

func startChild(ctx context.Context, exe, role string, config any) (*child, error) {
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	if s, ok := config.(string); ok {
		cfg = []byte(s)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, configEnv+"="+string(cfg))
	c := &child{cmd: cmd, lines: make(chan string, 4), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 256<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

// line returns the child's next line, waiting at most timeout.
func (c *child) line(timeout time.Duration) (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.cmd.Wait()
			return "", fmt.Errorf("%w: %s", errNoOutput, strings.TrimSpace(c.stderr.String()))
		}
		return l, nil
	case <-time.After(timeout):
		c.cmd.Process.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine's stack
		time.Sleep(time.Second)
		dump := c.stderr.String()
		return "", fmt.Errorf("no output after %v; its stderr ends: %s", timeout, dump[max(0, len(dump)-4000):])
	}
}

// finish closes the child's stdin, decodes its last line into v and waits.
func (c *child) finish(timeout time.Duration, v any) error {
	c.stdin.Close()
	l, err := c.line(timeout)
	if err == nil {
		err = json.Unmarshal([]byte(l), v)
	}
	return errors.Join(err, c.cmd.Wait())
}

func (c *child) kill() {
	c.stdin.Close()
	c.cmd.Process.Kill()
	c.cmd.Wait()
}

// measure runs one strategy in a serving process with a probe beside it.
func measure(ctx context.Context, exe string, cfg serveConfig, idle time.Duration, stderr io.Writer) (result, error) {
	srv, err := startChild(ctx, exe, "serve", cfg)
	if err != nil {
		return result{}, err
	}
	defer srv.kill()
	loadTime := cfg.Phase*time.Duration(len(cfg.Readers)+1) + time.Minute
	if l, err := srv.line(loadTime); err != nil || l != "trickle" {
		return result{}, fmt.Errorf("serving process: %q, %v", l, err)
	}
	prb, err := startChild(ctx, exe, "probe", cfg.Path)
	if err != nil {
		return result{}, err
	}
	defer prb.kill()
	time.Sleep(cfg.Phase)
	fmt.Fprintln(srv.stdin, "stop")
	if l, err := srv.line(time.Minute); err != nil || l != "idle" {
		return result{}, fmt.Errorf("serving process: %q, %v", l, err)
	}
	time.Sleep(idle)
	var attempts []attempt
	if err := prb.finish(time.Minute, &attempts); err != nil {
		return result{}, fmt.Errorf("probe: %w", err)
	}
	var load loadResult
	if err := srv.finish(time.Minute, &load); err != nil {
		return result{}, fmt.Errorf("serving process: %w", err)
	}
	if load.FirstErr != "" {
		fmt.Fprintf(stderr, "  first error: %s\n", load.FirstErr)
	}
	return summarize(cfg.Strategy, load, attempts, idle), nil
}
