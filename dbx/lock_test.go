package dbx_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
	"github.com/jmoiron/sqlx"
)

// DuckDB's own rules across processes, which dbx is built on.
func TestPlainDuckDBLockMatrix(t *testing.T) {
	for _, tc := range []struct {
		holder       string
		readOnly, ok bool
	}{
		{"hold-ro", true, true},   // RO + RO
		{"hold-ro", false, false}, // RO first blocks RW
		{"hold-rw", true, false},  // RW first blocks RO
		{"hold-rw", false, false}, // RW first blocks RW
	} {
		path := newFile(t)
		h := proctest.StartReady(t, tc.holder, path)
		ok, msg := tryOpen(t, path, tc.readOnly)
		if ok != tc.ok {
			t.Errorf("%s then read-only=%v: opened=%v (%s), want %v", tc.holder, tc.readOnly, ok, msg, tc.ok)
		}
		if !ok && !strings.HasPrefix(msg, "locked:") {
			t.Errorf("%s then read-only=%v: %s, want a lock conflict", tc.holder, tc.readOnly, msg)
		}
		if !ok {
			wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
				if !strings.Contains(msg, fmt.Sprintf("(PID %d)", h.PID())) {
					t.Errorf("lock error does not name the holder PID %d: %s", h.PID(), msg)
				}
			})
		}
		h.Stop()
	}
}

func TestOtherProcessWritesRightAfterWrite(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithWriteLinger(0))
	if err := insert(context.Background(), db, 1); err != nil {
		t.Fatal(err)
	}
	// No read has happened since, and the write side does not linger: no
	// part of this process holds the file.
	if ok, msg := tryOpen(t, path, false); !ok {
		t.Fatalf("right after Write another process cannot open read-write: %s", msg)
	}
}

// TestWriteLinger: after a window the write side keeps the file (a plain
// process cannot open it), a second window reuses it, and it lets go at
// once for a reader of this process and for a reader or a writer of
// another dbx process, long before the linger would end.
func TestWriteLinger(t *testing.T) {
	const linger = time.Minute
	path := newFile(t)
	ctx := context.Background()
	db := open(t, path, dbx.WithWriteLinger(linger))
	soon := func(what string, f func()) {
		t.Helper()
		start := time.Now()
		f()
		if waited := time.Since(start); waited > linger/4 {
			t.Fatalf("%s waited %v: the lingering write side did not let go", what, waited)
		}
	}
	if err := insert(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	ok, msg := tryOpen(t, path, true)
	if ok || !strings.HasPrefix(msg, "locked:") {
		t.Fatalf("a plain process opened the file while the write side lingers (%v, %s)", ok, msg)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if !strings.Contains(msg, fmt.Sprintf("(PID %d)", os.Getpid())) {
			t.Errorf("lock error does not name this process, PID %d: %s", os.Getpid(), msg)
		}
	})
	if err := insert(ctx, db, 2); err != nil { // reuses the lingering write side
		t.Fatal(err)
	}
	soon("a read of this process", func() {
		if got := count(t, db); got != 2 {
			t.Fatalf("count = %d, want 2", got)
		}
	})
	for _, helper := range []string{"dbx-count", "dbx-insert"} {
		if err := insert(ctx, db, 3); err != nil {
			t.Fatal(err)
		}
		soon(helper+" in another process", func() {
			p := proctest.Start(t, helper, path)
			if line := p.Line(t); !strings.HasPrefix(line, "ok") {
				t.Fatalf("%s: %s", helper, line)
			}
			p.Stop()
		})
	}
	if got := count(t, db); got != 5 {
		t.Fatalf("count = %d, want 5", got)
	}
}

// TestWriteLingerEndsWithoutCheckpoint: when the linger ends with nobody
// waiting, the write side lets go without folding the WAL into the file:
// a checkpoint would hold the file read-write against plain DuckDB
// readers, which cannot say that they wait. Close folds it in.
func TestWriteLingerEndsWithoutCheckpoint(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithWriteLinger(50*time.Millisecond), dbx.WithCheckpointEvery(1000, 1<<30))
	for i := range 3 {
		if err := insert(context.Background(), db, i); err != nil {
			t.Fatal(err)
		}
	}
	// Probe read-only: a read-write open would checkpoint on close itself.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, msg := tryOpen(t, path, true)
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the write side still holds the file 10 s after its 50 ms linger: %s", msg)
		}
	}
	if info, err := os.Stat(path + ".wal"); err != nil || info.Size() == 0 {
		t.Fatalf("the linger ended with the WAL folded in (%v): it holds the file longer than the windows", err)
	}
	db.Close()
	if info, err := os.Stat(path + ".wal"); err == nil && info.Size() > 0 {
		t.Fatalf("Close left %d bytes of WAL", info.Size())
	}
}

// TestWriteLetsGoBeforeReturning: a plain DuckDB process that opens the
// file read-only, once, the moment Write returns gets in: the write side
// keeps nothing past the window (no linger, no checkpoint because the
// process is idle), with the default options and with the reads during
// writes that healthsim serve uses. The probe is started and ready before
// each window.
func TestWriteLetsGoBeforeReturning(t *testing.T) {
	for _, c := range []struct {
		name string
		opts []dbx.Option
	}{
		{"defaults", nil},
		{"reads during writes", []dbx.Option{dbx.WithReadsDuringWrites()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := newFile(t)
			db := open(t, path, c.opts...)
			probe := proctest.StartReady(t, "probe-ro", path)
			for i := range 5 {
				if err := insert(context.Background(), db, i); err != nil {
					t.Fatal(err)
				}
				probe.Send(t, "open")
				if line := probe.Line(t); line != "ok" {
					t.Fatalf("window %d: a read-only open right after Write returned failed: %s", i, line)
				}
			}
		})
	}
}

// TestReadSideAttachesAgainAfterWrite: a read side in use within its lease
// attaches the file again, in the background, once a write window has
// made it let go, so that the next read does not pay for it; and it still
// lets go at the end of the lease, which counts from the last read.
func TestReadSideAttachesAgainAfterWrite(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadLease(leaseForProbes))
	lastRead := time.Now()
	count(t, db)
	if err := insert(context.Background(), db, 1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the read side to attach the file again", func() bool { return dbx.ReadAttached(db) })
	if ok, _ := tryOpen(t, path, false); ok {
		t.Fatal("another process opened read-write within the read lease")
	}
	waitWritable(t, path)
	if held := time.Since(lastRead); held < leaseForProbes {
		t.Fatalf("the read side let go after %v, before its %v lease", held, leaseForProbes)
	}
	// A write after the lease leaves the read side detached.
	if err := insert(context.Background(), db, 2); err != nil {
		t.Fatal(err)
	}
	dbx.WaitBackground(db)
	if dbx.ReadAttached(db) {
		t.Fatal("the read side attached the file again after a write, its lease long over")
	}
}

// TestWarmDoesNotWait: the read side's background attach after a write
// only tries: when another program holds the file, it gives up at once
// instead of retrying for the busy timeout while it holds this process's
// read side (its next read or write would wait behind it).
func TestWarmDoesNotWait(t *testing.T) {
	const busy = 20 * time.Second
	path := newFile(t)
	db := open(t, path, dbx.WithReadLease(time.Minute), dbx.WithBusyTimeout(busy))
	count(t, db)
	dbx.DetachRead(db)
	holder := proctest.StartReady(t, "hold-rw", path)
	start := time.Now()
	dbx.Warm(context.Background(), db)
	if took := time.Since(start); took > busy/2 {
		t.Fatalf("the background attach waited %v for a file another program holds", took)
	}
	if dbx.ReadAttached(db) {
		t.Fatal("the read side attached a file another program holds read-write")
	}
	holder.Stop()
	if got := count(t, db); got != 0 {
		t.Fatal(got)
	}
}

// waitFor waits until done reports true, failing the test after a minute.
func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// leaseForProbes is a read lease long enough for a second process to start
// and probe the file within it, even on a loaded machine under -race.
const leaseForProbes = 3 * time.Second

// waitWritable waits until a second process can open path read-write and
// returns how long that took, failing the test after a minute.
func waitWritable(t *testing.T, path string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, msg := tryOpen(t, path, false)
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("the file is still held a minute later: %s", msg)
		}
	}
}

func TestReadLeaseReleasesFile(t *testing.T) {
	path := newFile(t)
	db := open(t, path, dbx.WithReadLease(leaseForProbes))
	lastRead := time.Now() // at most: the lease runs from the read's end
	if got := count(t, db); got != 0 {
		t.Fatal(got)
	}
	// Within the lease the read pool holds its shared lock ...
	if ok, _ := tryOpen(t, path, false); ok {
		t.Fatal("another process opened read-write while the read lease runs")
	}
	// ... while other readers are welcome ...
	if ok, msg := tryOpen(t, path, true); !ok {
		t.Fatalf("another process cannot read while the read pool is active: %s", msg)
	}
	// ... and once the lease is over it lets go, DB still open.
	waitWritable(t, path)
	if held := time.Since(lastRead); held < leaseForProbes {
		t.Fatalf("the read pool let go after %v, before its %v lease", held, leaseForProbes)
	}
	if got := count(t, db); got != 0 {
		t.Fatalf("count after reopen = %d", got)
	}
}

func TestExternalReaderWhileReadPoolActive(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	ctx := context.Background()
	conn, err := db.Read().Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
		t.Fatal(err)
	}
	if ok, msg := tryOpen(t, path, true); !ok {
		t.Fatalf("external read-only open failed while the read pool is active: %s", msg)
	}
}

func TestWriteWhileOtherDBXProcessReadsInBursts(t *testing.T) {
	path := newFile(t)
	reader := proctest.StartReady(t, "dbx-reader", path)
	db := open(t, path, dbx.WithBusyTimeout(10*time.Second))
	ctx := context.Background()
	for i := range 5 {
		if err := insert(ctx, db, i); err != nil {
			t.Fatalf("write %d while another dbx process reads: %v", i, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	reader.CloseStdin() // ends its loop; Stop waits for the exit later
	summary := reader.Line(t)
	var reads, failures int
	if _, err := fmt.Sscanf(summary, "reads %d errors %d", &reads, &failures); err != nil {
		t.Fatalf("reader said %q", summary)
	}
	if reads == 0 || failures != 0 {
		t.Fatalf("reader: %s", summary)
	}
	if got := count(t, db); got != 5 {
		t.Fatalf("count = %d, want 5", got)
	}
}

// TestWritersGetThroughContinuousReaders: two other dbx processes read
// without any pause and a third writes every 20 ms; this process's writes
// still all get through (the sidecar's writer preference), nobody sees an
// error, and every write is in the file.
func TestWritersGetThroughContinuousReaders(t *testing.T) {
	path := newFile(t)
	readers := []*proctest.Process{proctest.StartReady(t, "dbx-hammer", path), proctest.StartReady(t, "dbx-hammer", path)}
	writer := proctest.StartReady(t, "dbx-writer", path)
	db := open(t, path, dbx.WithBusyTimeout(5*time.Second))
	ctx := context.Background()
	var took []time.Duration
	for i := range 30 {
		start := time.Now()
		if err := insert(ctx, db, i); err != nil {
			t.Fatalf("write %d while other dbx processes read without pause: %v", i, err)
		}
		took = append(took, time.Since(start))
		var n int
		if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(took)
	t.Logf("30 writes beside two continuous readers and a writer: p50 %s, max %s", took[len(took)/2], took[len(took)-1])

	var reads int
	for _, r := range readers {
		r.CloseStdin()
		var n, failures int
		if line := r.Line(t); func() bool { _, err := fmt.Sscanf(line, "reads %d errors %d", &n, &failures); return err != nil }() || failures != 0 || n == 0 {
			t.Fatalf("reader: %s", line)
		}
		reads += n
	}
	writer.CloseStdin()
	var writes, failures int
	if line := writer.Line(t); func() bool { _, err := fmt.Sscanf(line, "writes %d errors %d", &writes, &failures); return err != nil }() || failures != 0 || writes == 0 {
		t.Fatalf("writer: %s", line)
	}
	t.Logf("other processes: %d reads, %d writes", reads, writes)
	writer.Stop()
	if got := count(t, db); got != 30+writes {
		t.Fatalf("count = %d, want %d (30 here + %d there)", got, 30+writes, writes)
	}
}

// TestProcessesThatReadAndWrite: two dbx processes that each read without
// pause and write every 20 ms all get through, with no error on either side
// (a reader of one process must not wait for its own process's writer).
func TestProcessesThatReadAndWrite(t *testing.T) {
	path := newFile(t)
	procs := []*proctest.Process{proctest.StartReady(t, "dbx-both", path), proctest.StartReady(t, "dbx-both", path)}
	time.Sleep(3 * time.Second)
	total := 0
	for _, p := range procs {
		p.CloseStdin()
	}
	for _, p := range procs {
		var reads, writes, failures int
		line := p.Line(t)
		if _, err := fmt.Sscanf(line, "reads %d writes %d errors %d", &reads, &writes, &failures); err != nil || failures != 0 || reads == 0 || writes == 0 {
			t.Fatalf("process: %q", line)
		}
		t.Logf("process: %s", line)
		total += writes
		p.Stop()
	}
	db := open(t, path)
	if got := count(t, db); got != total {
		t.Fatalf("count = %d, want the %d writes", got, total)
	}
}

// TestReadersGetTurnsBetweenBackToBackWrites: a dbx process that writes one
// window right after the other does not starve another process's reads.
func TestReadersGetTurnsBetweenBackToBackWrites(t *testing.T) {
	path := newFile(t)
	writer := proctest.StartReady(t, "dbx-writer-nonstop", path)
	db := open(t, path)
	ctx := context.Background()
	reads := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); reads++ {
		var n int
		if err := db.Read().GetContext(ctx, &n, "SELECT count(*) FROM t"); err != nil {
			t.Fatalf("read %d beside back-to-back writes: %v", reads, err)
		}
	}
	writer.CloseStdin()
	var writes, failures int
	if line := writer.Line(t); func() bool { _, err := fmt.Sscanf(line, "writes %d errors %d", &writes, &failures); return err != nil }() || failures != 0 {
		t.Fatalf("writer: %s", line)
	}
	t.Logf("in 2 s: %d reads here, %d back-to-back writes there", reads, writes)
	// Without turns the reader gets the file a few times a second at best.
	if reads < writes/4 {
		t.Fatalf("%d reads beside %d writes: the reader starves", reads, writes)
	}
}

func TestWriteAgainstForeignHolder(t *testing.T) {
	path := newFile(t)
	holder := proctest.StartReady(t, "hold-ro", path)
	db := open(t, path, dbx.WithBusyTimeout(500*time.Millisecond))
	ctx := context.Background()

	start := time.Now()
	err := insert(ctx, db, 1)
	waited := time.Since(start)
	var le *dbx.LockError
	if !errors.As(err, &le) || !errors.Is(err, dbx.ErrLocked) {
		t.Fatalf("Write = %v, want a LockError", err)
	}
	wantHolder := dbx.ReadOnly // DuckDB's hint; Windows' message has none
	if runtime.GOOS == "windows" {
		wantHolder = ""
	}
	if le.Mode != dbx.ReadWrite || le.Holder != wantHolder || le.Path != db.Path() {
		t.Fatalf("LockError = %+v, want mode read-write, holder %q", le, wantHolder)
	}
	if waited < 500*time.Millisecond || waited > 5*time.Second {
		t.Fatalf("gave up after %v, want about the busy timeout", waited)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if le.PID != holder.PID() || le.Exe == "" || !strings.Contains(err.Error(), fmt.Sprintf("PID %d", holder.PID())) {
			t.Errorf("LockError = %+v (%v), want holder PID %d", le, err, holder.PID())
		}
	})

	// A cancelled context ends the wait before the busy timeout.
	long := open(t, path, dbx.WithBusyTimeout(time.Minute))
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = insert(cctx, long, 1)
	if !errors.Is(err, dbx.ErrLocked) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write with deadline = %v, want ErrLocked and DeadlineExceeded", err)
	}

	// Reads share the file with the foreign reader.
	if got := count(t, db); got != 0 {
		t.Fatal(got)
	}

	// Once the holder exits, the write gets through (within the busy timeout,
	// while the holder is still exiting).
	go func() { time.Sleep(200 * time.Millisecond); holder.Stop() }()
	slow := open(t, path, dbx.WithBusyTimeout(10*time.Second))
	if err := insert(ctx, slow, 7); err != nil {
		t.Fatalf("write after the holder exits: %v", err)
	}
	if got := count(t, slow); got != 1 {
		t.Fatalf("count = %d, want 1", got)
	}
}

func TestReadAgainstForeignWriter(t *testing.T) {
	path := newFile(t)
	holder := proctest.StartReady(t, "hold-rw", path)
	db := open(t, path, dbx.WithBusyTimeout(300*time.Millisecond))
	var n int
	err := db.Read().Get(&n, "SELECT count(*) FROM t")
	var le *dbx.LockError
	if !errors.As(err, &le) || le.Mode != dbx.ReadOnly || le.Holder != dbx.ReadWrite {
		t.Fatalf("Read = %v (%+v), want a LockError", err, le)
	}
	wine.Run(t, "holder named", wine.HolderPIDs, func(t *testing.T) {
		if le.PID != holder.PID() {
			t.Errorf("LockError = %+v, want holder PID %d", le, holder.PID())
		}
	})
	holder.Stop()
	if err := db.Read().Get(&n, "SELECT count(*) FROM t"); err != nil {
		t.Fatalf("read after the writer exits: %v", err)
	}
}

func TestOpenReadOnly(t *testing.T) {
	path := newFile(t)
	db := open(t, path)
	if err := insert(context.Background(), db, 1, 2); err != nil {
		t.Fatal(err)
	}
	db.Close()

	ro, err := dbx.OpenReadOnly(path, dbx.WithReadLease(leaseForProbes))
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	roX := sqlx.NewDb(ro, "duckdb")
	lastRead := time.Now() // at most: the lease runs from the last statement's end
	var sum int
	if err := roX.Get(&sum, "SELECT sum(x) FROM t"); err != nil || sum != 3 {
		t.Fatalf("sum = %d, err = %v", sum, err)
	}
	if _, err := ro.Exec("INSERT INTO t VALUES (3)"); err == nil {
		t.Fatal("OpenReadOnly pool wrote")
	}
	if ok, _ := tryOpen(t, path, false); ok {
		t.Fatal("file writable by others while the read-only pool is active")
	}
	waitWritable(t, path)
	if held := time.Since(lastRead); held < leaseForProbes {
		t.Fatalf("the read-only pool let go after %v, before its %v lease", held, leaseForProbes)
	}
	if _, err := dbx.OpenReadOnly(path + ".missing"); err == nil {
		t.Fatal("OpenReadOnly of a missing file succeeded")
	}
}

func TestReadStatementsKeptPrepared(t *testing.T) {
	ctx := context.Background()
	path := newFile(t)
	db := open(t, path, dbx.WithReadConns(1), dbx.WithReadLease(leaseForProbes))
	if err := insert(ctx, db, 1, 2, 3); err != nil {
		t.Fatal(err)
	}
	kept := func() int {
		t.Helper()
		n, err := dbx.KeptStatements(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const query = "SELECT count(*) FROM t WHERE x >= $1"
	for _, c := range []struct{ from, want int }{{1, 3}, {2, 2}, {4, 0}, {3, 1}} {
		var got int
		if err := db.Read().GetContext(ctx, &got, query, c.from); err != nil || got != c.want {
			t.Fatalf("x >= %d: %d, %v; want %d", c.from, got, err, c.want)
		}
	}
	if n := kept(); n != 1 {
		t.Fatalf("%d statements kept after four queries with one text, want 1", n)
	}
	// The same text again while its first Rows are open: a second statement.
	tx, err := db.Read().BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := tx.QueryContext(ctx, "SELECT x FROM t WHERE x >= $1 ORDER BY x", 2)
	if err != nil {
		t.Fatal(err)
	}
	var xs []int
	for outer.Next() {
		var x, n int
		if err := outer.Scan(&x); err != nil {
			t.Fatal(err)
		}
		if err := tx.GetContext(ctx, &n, "SELECT x FROM t WHERE x >= $1 ORDER BY x LIMIT 1", x); err != nil || n != x {
			t.Fatalf("inner query for %d: %d, %v", x, n, err)
		}
		xs = append(xs, x)
	}
	if err := errors.Join(outer.Err(), outer.Close(), tx.Rollback()); err != nil || fmt.Sprint(xs) != "[2 3]" {
		t.Fatalf("outer rows %v: %v", xs, err)
	}
	// Several statements are never kept: each run runs them all.
	for i := range 2 {
		var got int
		err := db.Read().GetContext(ctx, &got, "SET VARIABLE v = 10; SELECT getvariable('v') + $1", i)
		if err != nil || got != 10+i {
			t.Fatalf("run %d: %d, %v", i, got, err)
		}
	}
	if n := kept(); n != 3 {
		t.Fatalf("%d statements kept, want 3 (one a single statement)", n)
	}
	// Kept statements close with their connection: the lease still lets go.
	waitWritable(t, path)
}
