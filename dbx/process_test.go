package dbx_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
)

// The test binary re-runs itself as a second process for lock tests: with
// DBX_HELPER set, TestMain runs that helper instead of the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("DBX_HELPER"); mode != "" {
		if err := runHelper(mode, os.Getenv("DBX_PATH")); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelper is the body of a second process.
//
//	hold-ro, hold-rw: open the file with plain duckdb-go, print "ready",
//	  hold it until stdin closes.
//	try-ro, try-rw: open the file with plain duckdb-go once and print "ok"
//	  or "locked: <error>".
//	dbx-reader: read through dbx in bursts with pauses longer than its
//	  lease until stdin closes, then print "reads N errors M".
//	dbx-writer: insert DBX_ROWS rows into t(x), one write window each.
func runHelper(mode, path string) error {
	ctx := context.Background()
	switch mode {
	case "hold-ro", "hold-rw":
		db, err := openRaw(path, mode == "hold-ro")
		if err != nil {
			return err
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return db.Close()
	case "try-ro", "try-rw":
		db, err := openRaw(path, mode == "try-ro")
		if err != nil {
			fmt.Println("locked:", err)
			return nil
		}
		db.Close()
		fmt.Println("ok")
		return nil
	case "dbx-reader":
		db, err := dbx.Open(ctx, path, dbx.WithReadLease(50*time.Millisecond), dbx.WithBusyTimeout(5*time.Second))
		if err != nil {
			return err
		}
		defer db.Close()
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
		fmt.Println("ready")
		reads, failures := 0, 0
		for {
			for range 20 {
				var n int
				if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
					failures++
					fmt.Fprintln(os.Stderr, "read:", err)
				}
				reads++
			}
			select {
			case <-done:
				fmt.Printf("reads %d errors %d\n", reads, failures)
				return nil
			case <-time.After(250 * time.Millisecond): // > lease + cleaner tick is not needed: the writer waits
			}
		}
	}
	return fmt.Errorf("unknown helper %q", mode)
}

// openRaw opens path with plain duckdb-go and runs a query, so the file is
// really open. It is what a foreign program (a notebook, a CLI) does.
func openRaw(path string, readOnly bool) (*sql.DB, error) {
	dsn := path
	if readOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	if _, err := db.Exec("SELECT 1"); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// helper is a running second process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	once  sync.Once
}

// startHelper starts the test binary as helper mode on path and, for
// modes that print "ready", waits for it.
func startHelper(t *testing.T, mode, path string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DBX_HELPER="+mode, "DBX_PATH="+path)
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
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() { h.stop() })
	if strings.HasPrefix(mode, "hold-") || mode == "dbx-reader" {
		if line := h.line(t); line != "ready" {
			t.Fatalf("helper %s: %q, want ready", mode, line)
		}
	}
	return h
}

func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper ended without output: %v", h.out.Err())
	}
	return h.out.Text()
}

func (h *helper) pid() int { return h.cmd.Process.Pid }

// stop closes the helper's stdin and waits for it to exit.
func (h *helper) stop() {
	h.once.Do(func() {
		h.stdin.Close()
		h.cmd.Wait()
	})
}

// tryOpen opens path in a fresh second process and reports whether it
// could (read-only or read-write), with DuckDB's message if not.
func tryOpen(t *testing.T, path string, readOnly bool) (bool, string) {
	t.Helper()
	mode := "try-rw"
	if readOnly {
		mode = "try-ro"
	}
	h := startHelper(t, mode, path)
	line := h.line(t)
	h.stop()
	return line == "ok", line
}
