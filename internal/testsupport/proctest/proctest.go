// Package proctest runs the test binary again as a second process, for
// tests about DuckDB file locks: fcntl locks never conflict within one
// process, so only a real second process proves who can open a file.
//
// A test package calls [Main] from its TestMain with its helper bodies; a
// test calls [Start] to run one of them on a database path.
package proctest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
)

const (
	modeEnv = "PROCTEST_HELPER"
	pathEnv = "PROCTEST_DB"
)

// Helper is the body of a second process: it works on the database at
// path and returns when done, or when stdin closes (done is closed then).
// What it prints to stdout the test reads with [Process.Line].
type Helper func(path string, done <-chan struct{}) error

// Main runs the helper named by the environment if this process is one,
// else the tests. Besides helpers, "hold-ro" and "hold-rw" (they print
// "ready" once they hold the file until stdin closes, or "locked: <error>"
// when another process holds it; see [dbx.IsLockConflict]) and "probe-ro"
// and "probe-rw" (they try to open it at each command) are built in.
func Main(m *testing.M, helpers map[string]Helper) {
	mode := os.Getenv(modeEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	builtin := map[string]Helper{"hold-ro": hold(true), "hold-rw": hold(false), "probe-ro": probe(true), "probe-rw": probe(false)}
	h, ok := helpers[mode]
	if !ok {
		h, ok = builtin[mode]
	}
	if !ok {
		fmt.Printf("error: unknown helper %q\n", mode)
		os.Exit(2)
	}
	done := make(chan struct{})
	go func() {
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			select {
			case commands <- in.Text():
			default: // a helper that takes no commands
			}
		}
		close(done)
	}()
	if err := h(os.Getenv(pathEnv), done); err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

// commands carries the lines the test sends to this helper process.
var commands = make(chan string, 16)

// Commands returns the lines the test sends with [Process.Send], in a
// helper process.
func Commands() <-chan string { return commands }

// hold opens the file with plain duckdb-go, as a foreign program (a
// notebook, a CLI) does, prints "ready" and holds it until stdin closes.
func hold(readOnly bool) Helper {
	return func(path string, done <-chan struct{}) error {
		db, err := OpenRaw(path, readOnly)
		if dbx.IsLockConflict(err) {
			fmt.Println("locked:", err)
			return nil
		}
		if err != nil {
			return err
		}
		defer db.Close()
		fmt.Println("ready")
		<-done
		return nil
	}
}

// probe opens the file with plain duckdb-go, once at each command (see
// [Process.Send]), as a notebook or a test suite does (no retry), closes
// it, and prints "ok", or "locked: " or "error: " and the error: a probe
// that is ready before the moment it is asked about.
func probe(readOnly bool) Helper {
	return func(path string, done <-chan struct{}) error {
		fmt.Println("ready")
		for {
			select {
			case <-Commands():
				db, err := OpenRaw(path, readOnly)
				switch {
				case dbx.IsLockConflict(err):
					fmt.Println("locked:", err)
				case err != nil:
					fmt.Println("error:", err)
				default:
					db.Close()
					fmt.Println("ok")
				}
			case <-done:
				return nil
			}
		}
	}
}

// OpenRaw opens path with plain duckdb-go and runs a query, so the file is
// really open (benchfile.OpenPlain).
var OpenRaw = benchfile.OpenPlain

// Process is a running second process.
type Process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	once  sync.Once
}

// Start runs helper mode on path in a second process, stopped at the end
// of the test at the latest.
func Start(t testing.TB, mode, path string) *Process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), modeEnv+"="+mode, pathEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(p.Stop)
	return p
}

// StartReady is Start followed by waiting for the helper's "ready" line.
func StartReady(t testing.TB, mode, path string) *Process {
	t.Helper()
	p := Start(t, mode, path)
	if line := p.Line(t); line != "ready" {
		t.Fatalf("helper %s: %q, want ready", mode, line)
	}
	return p
}

// Line returns the next line the process printed.
func (p *Process) Line(t testing.TB) string {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("helper ended without output: %v", p.out.Err())
	}
	return p.out.Text()
}

// Send sends line to the helper (see [Commands]).
func (p *Process) Send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatalf("send %q to the helper: %v", line, err)
	}
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// CloseStdin tells the helper to finish without waiting for it.
func (p *Process) CloseStdin() { p.stdin.Close() }

// Stop closes the helper's stdin and waits for it to exit. It is safe to
// call more than once and from several goroutines.
func (p *Process) Stop() {
	p.once.Do(func() {
		p.stdin.Close()
		p.cmd.Wait()
	})
}

// Kill kills the helper without warning (SIGKILL on Unix, TerminateProcess
// on Windows) and waits until it is gone, so whatever it held is released.
func (p *Process) Kill() {
	p.once.Do(func() {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.stdin.Close()
	})
}
