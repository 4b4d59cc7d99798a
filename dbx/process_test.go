package dbx_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/jmoiron/sqlx"
)

// The test binary re-runs itself as a second process for lock tests
// (proctest); besides proctest's hold-ro and hold-rw, dbx's tests use:
//
//	try-ro, try-rw: open the file with plain duckdb-go once and print "ok",
//	  "locked: <error>" (another process holds it) or "error: <error>".
//	dbx-count, dbx-insert: open the file with dbx, count the rows of t
//	  (after inserting one), print "ok N" and exit.
//	dbx-reader: read through dbx in bursts with pauses longer than its
//	  lease until stdin closes, then print "reads N errors M".
//	dbx-hammer: read through dbx without any pause until stdin closes,
//	  then print "reads N errors M".
//	dbx-writer: insert a row into t through dbx every 20 ms until stdin
//	  closes, then print "writes N errors M".
//	dbx-writer-nonstop: the same, one window right after the other.
//	sum-ro: open the file read-only with plain duckdb-go, as a notebook
//	  does, and print "rows N sum S" of table t (or the error).
//	dbx-both: both at once in one process (a server whose client reads
//	  without pause and saves now and then), then print
//	  "reads N writes N errors M".
//	lock-sh, lock-ex: hold a shared or exclusive lock on the intent
//	  sidecar until stdin closes (or the process is killed).
//	wait: mark that it waits for the file until stdin closes.
func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Helper{
		"try-ro":             tryHelper(true),
		"try-rw":             tryHelper(false),
		"dbx-reader":         burstReader,
		"dbx-hammer":         hammerReader,
		"dbx-writer":         intervalWriter(20 * time.Millisecond),
		"dbx-writer-nonstop": intervalWriter(0),
		"dbx-both":           readAndWrite,
		"sum-ro":             sumReadOnly,
		"dbx-count":          dbxOnce(false),
		"dbx-insert":         dbxOnce(true),
		"lock-sh":            lockHelper(false),
		"lock-ex":            lockHelper(true),
		"wait":               waitHelper,
	})
}

func tryHelper(readOnly bool) proctest.Helper {
	return func(path string, _ <-chan struct{}) error {
		db, err := proctest.OpenRaw(path, readOnly)
		if dbx.IsLockConflict(err) {
			fmt.Println("locked:", err)
			return nil
		}
		if err != nil {
			fmt.Println("error:", err)
			return nil
		}
		db.Close()
		fmt.Println("ok")
		return nil
	}
}

func burstReader(path string, done <-chan struct{}) error {
	ctx := context.Background()
	db, err := dbx.Open(ctx, path, dbx.WithReadLease(50*time.Millisecond), dbx.WithBusyTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
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
		case <-time.After(250 * time.Millisecond): // longer than the lease
		}
	}
}

// tryOpen opens path in a fresh second process and reports whether it
// could (read-only or read-write), with DuckDB's message if not.
func tryOpen(t *testing.T, path string, readOnly bool) (bool, string) {
	t.Helper()
	mode := "try-rw"
	if readOnly {
		mode = "try-ro"
	}
	p := proctest.Start(t, mode, path)
	line := p.Line(t)
	p.Stop()
	return line == "ok", line
}

func hammerReader(path string, done <-chan struct{}) error {
	ctx := context.Background()
	db, err := dbx.Open(ctx, path, dbx.WithBusyTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	reads, failures := 0, 0
	for {
		select {
		case <-done:
			fmt.Printf("reads %d errors %d\n", reads, failures)
			return nil
		default:
		}
		var n int
		if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
			failures++
			fmt.Fprintln(os.Stderr, "read:", err)
		}
		reads++
	}
}

func intervalWriter(every time.Duration) proctest.Helper {
	return func(path string, done <-chan struct{}) error { return writeEvery(path, every, done) }
}

func writeEvery(path string, every time.Duration, done <-chan struct{}) error {
	ctx := context.Background()
	db, err := dbx.Open(ctx, path, dbx.WithBusyTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	writes, failures := 0, 0
	for {
		err := db.Write(ctx, func(tx *sqlx.Tx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (?)", writes)
			return err
		})
		if err != nil {
			failures++
			fmt.Fprintln(os.Stderr, "write:", err)
		} else {
			writes++
		}
		select {
		case <-done:
			fmt.Printf("writes %d errors %d\n", writes, failures)
			return nil
		case <-time.After(every):
		}
	}
}

func readAndWrite(path string, done <-chan struct{}) error {
	ctx := context.Background()
	db, err := dbx.Open(ctx, path, dbx.WithBusyTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Println("ready")
	var reads, writes, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
				failures.Add(1)
				fmt.Fprintln(os.Stderr, "read:", err)
			}
			reads.Add(1)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			err := db.Write(ctx, func(tx *sqlx.Tx) error {
				_, err := tx.ExecContext(ctx, "INSERT INTO t VALUES (1)")
				return err
			})
			if err != nil {
				failures.Add(1)
				fmt.Fprintln(os.Stderr, "write:", err)
			} else {
				writes.Add(1)
			}
		}
	})
	<-done
	close(stop)
	wg.Wait()
	fmt.Printf("reads %d writes %d errors %d\n", reads.Load(), writes.Load(), failures.Load())
	return nil
}

func sumReadOnly(path string, _ <-chan struct{}) error {
	db, err := proctest.OpenRaw(path, true)
	if err != nil {
		fmt.Println("error:", err)
		return nil
	}
	defer db.Close()
	var n, sum int
	if err := db.QueryRow("SELECT count(*), coalesce(sum(x), 0) FROM t").Scan(&n, &sum); err != nil {
		fmt.Println("error:", err)
		return nil
	}
	fmt.Printf("rows %d sum %d\n", n, sum)
	return nil
}

// dbxOnce opens the file with dbx, inserts a row (write) or counts the rows,
// and prints "ok" and the count.
func dbxOnce(write bool) proctest.Helper {
	return func(path string, _ <-chan struct{}) error {
		ctx := context.Background()
		db, err := dbx.Open(ctx, path)
		if err != nil {
			return err
		}
		defer db.Close()
		if write {
			if err := db.Write(ctx, func(tx *sqlx.Tx) error { _, err := tx.Exec("INSERT INTO t VALUES (0)"); return err }); err != nil {
				fmt.Println("error:", err)
				return nil
			}
		}
		var n int
		if err := db.Read().Get(&n, "SELECT count(*) FROM t"); err != nil {
			fmt.Println("error:", err)
			return nil
		}
		fmt.Println("ok", n)
		return nil
	}
}
