package dbx

import (
	"context"
	"crypto/rand"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// Catalog is the name under which dbx attaches the database file. Every
// connection starts with USE Catalog, so unqualified names refer to the file.
const Catalog = "db"

// host is the driver.Connector behind a dbx pool: an in-memory DuckDB
// instance that attaches the file when its first connection opens and
// detaches it (releasing the file lock) when its last connection closes —
// for a read host, once the last query is a read lease old (see watch).
type host struct {
	path string
	mode Mode
	busy time.Duration
	log  *slog.Logger
	gate *gate // coordinates with this process's writer; nil if none
	// writeSide is the write host, on which a read host's reads run while
	// the gate shares it; nil without WithReadsDuringWrites.
	writeSide *host

	// intent is the sidecar through which a read host yields to writers
	// of any dbx process (nil: protocol off, or a write host). letGo makes
	// the pool close its idle connections; it is set once the pool exists.
	intent   *intent
	letGo    func()
	watching chan struct{} // closed to stop the watcher of an attached read host

	duck    *duckdb.Connector
	admin   *duckdb.Conn // runs ATTACH and DETACH
	tempDir string       // where the instance spills; removed by shutdown

	// opening is held while attaching, detaching or counting. An attach
	// holds it for up to the busy timeout (retrying a lock conflict), but
	// only while no connection is counted: so release, which a counted
	// connection calls, never waits for an attach; detachIdle runs when
	// the gate counts no reader (drainReads) or while the file is
	// attached (the read host's watcher), so not during one either; Close
	// waits for an attach in progress, the busy timeout at most.
	opening chan struct{}

	attached bool          // guarded by opening
	lease    time.Duration // read host: keep the file this long after the last query
	lastUse  atomic.Int64  // unix nanoseconds of the last statement on any connection
	// schemaChanged is set when a write host's connection runs anything
	// but row changes, or may have (see rowsOnly).
	schemaChanged atomic.Bool
	// txEnd is how a write host's last transaction ended: "", "committed"
	// or "rolled back" (see recordedTx).
	txEnd atomic.Value

	mu      sync.Mutex // guards refs, closed and changed
	refs    int        // open connections
	closed  bool
	changed chan struct{} // closed and replaced whenever refs changes
}

// newHost starts an in-memory instance for path. A read-only host is locked
// down: no files but the database's own, no extension loading, and no
// configuration changes; so is a write host that takes reads
// (WithReadsDuringWrites), which may also reach ReplaceFile's new file.
func newHost(path string, mode Mode, o options, g *gate, in *intent) (*host, error) {
	duck, err := duckdb.NewConnector(":memory:", nil)
	if err != nil {
		return nil, fmt.Errorf("dbx: start %s host: %w", mode, err)
	}
	dc, err := duck.Connect(context.Background())
	if err != nil {
		duck.Close()
		return nil, fmt.Errorf("dbx: start %s host: %w", mode, err)
	}
	h := &host{
		path: path, mode: mode, busy: o.busyTimeout, log: o.logger, gate: g, intent: in, lease: o.readLease,
		duck: duck, admin: dc.(*duckdb.Conn), tempDir: newTempDir(path),
		opening: make(chan struct{}, 1), changed: make(chan struct{}),
	}
	setup := []string{"SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
		// DETACH must not checkpoint: write windows do, by policy.
		"PRAGMA disable_checkpoint_on_shutdown",
		// An in-memory instance would spill into .tmp in the working
		// directory; DuckDB reaches this one with external access off.
		"SET temp_directory = " + quote(h.tempDir)}
	if mode == ReadWrite {
		// The storage version of a file that ATTACH creates; an existing
		// file keeps its own.
		setup = append(setup, "SET storage_compatibility_version = "+quote(o.storageVersion))
	}
	if o.memoryLimit > 0 {
		setup = append(setup, fmt.Sprintf("SET memory_limit = '%dB'", o.memoryLimit))
	}
	if mode == ReadOnly || o.readsDuringWrites {
		// allowed_paths must be set before external access is turned off.
		files := []string{path}
		if mode == ReadWrite {
			files = append(files, path+ReplaceSuffix)
		}
		var paths []string
		for _, file := range files {
			for _, suffix := range []string{"", ".wal", ".wal.checkpoint", ".wal.recovery"} {
				paths = append(paths, quote(file+suffix))
			}
		}
		setup = append(setup,
			"SET allowed_paths = ["+strings.Join(paths, ", ")+"]",
			"SET enable_external_access = false",
			"SET lock_configuration = true")
	}
	for _, stmt := range setup {
		if _, err := h.admin.ExecContext(context.Background(), stmt, nil); err != nil {
			h.shutdown()
			return nil, fmt.Errorf("dbx: configure %s host: %s: %w", mode, stmt, err)
		}
	}
	return h, nil
}

// Connect opens a connection whose default catalog is the database file,
// attaching the file first if no connection has it open. A read host's
// connection opens on the write side instead while the gate shares it.
func (h *host) Connect(ctx context.Context) (driver.Conn, error) {
	if h.gate == nil {
		c, err := h.connect(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	onWriteSide, err := h.gate.enterRead(ctx, h.busy)
	if err != nil {
		return nil, err
	}
	var c *conn
	if onWriteSide {
		// The write side holds the file until every shared read has
		// closed (see letGo): this neither attaches nor waits for a turn.
		c, err = h.writeSide.open(ctx)
	} else {
		c, err = h.connect(ctx)
	}
	if err != nil {
		h.gate.leaveRead()
		return nil, err
	}
	c.read, c.gate = true, h.gate
	if onWriteSide {
		return &sharedConn{conn: c}, nil
	}
	return c, nil
}

// connect opens a connection, once a writer of another dbx process, if
// any, has gone first; a read then goes before the next writer.
func (h *host) connect(ctx context.Context) (*conn, error) {
	attached, err := h.intent.readerTurn(ctx, h.mode, h.busy)
	if err != nil {
		return nil, err
	}
	c, err := h.open(ctx)
	attached()
	return c, err
}

// open counts and opens a connection, attaching the file if it is the
// first.
func (h *host) open(ctx context.Context) (*conn, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	dc, err := h.newConn(ctx)
	if err != nil {
		h.release()
		return nil, fmt.Errorf("dbx: connect %s: %w", h.mode, err)
	}
	return &conn{Conn: dc, host: h, read: h.mode == ReadOnly}, nil
}

// newConn opens a connection to the host whose default catalog is the file.
func (h *host) newConn(ctx context.Context) (*duckdb.Conn, error) {
	c, err := h.duck.Connect(ctx)
	if err != nil {
		return nil, err
	}
	dc := c.(*duckdb.Conn)
	if _, err := dc.ExecContext(ctx, "USE "+Catalog, nil); err != nil {
		dc.Close()
		return nil, err
	}
	return dc, nil
}

// Driver returns the duckdb-go driver.
func (h *host) Driver() driver.Driver { return duckdb.Driver{} }

// Close marks the host closed; the instance shuts down when the last
// connection closes (database/sql closes connectors while connections are
// still in use, and closing a duckdb-go instance under an open connection
// corrupts it).
func (h *host) Close() error {
	h.opening <- struct{}{}
	defer func() { <-h.opening }()
	h.mu.Lock()
	already, idle := h.closed, h.refs == 0
	h.closed = true
	h.mu.Unlock()
	if !already && idle {
		h.stopWatching()
		h.shutdown() // detaches, if lingering, by closing the instance
	}
	return nil
}

func (h *host) shutdown() {
	h.admin.Close()
	h.duck.Close()
	h.intent.close()
	if err := os.RemoveAll(h.tempDir); err != nil {
		h.log.Warn("dbx: could not remove the temporary directory", "dir", h.tempDir, "err", err)
	}
}

// newTempDir names a temporary directory for a new instance on path:
// beside the file, and random, so that no other instance (of this or any
// process, in any PID namespace) uses it.
func newTempDir(path string) string {
	return path + "." + strings.ToLower(rand.Text()[:12]) + ".tmp"
}

// acquire counts a new connection, attaching the file if it is the first.
func (h *host) acquire(ctx context.Context) error {
	select {
	case h.opening <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.opening }()
	h.mu.Lock()
	closed, first := h.closed, h.refs == 0
	h.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if ctx.Value(classifying{}) == nil { // a connection only to prepare a statement is no read
		h.lastUse.Store(time.Now().UnixNano()) // a new connection is about to be used
	}
	if first {
		if err := h.attachLocked(ctx, h.busy); err != nil {
			return err
		}
	}
	h.setRefs(+1)
	return nil
}

// attachLocked attaches the file unless it is attached, retrying lock
// conflicts for busy, and starts a read host's watcher (the caller holds
// opening).
func (h *host) attachLocked(ctx context.Context, busy time.Duration) error {
	if h.attached {
		return nil
	}
	if err := h.attach(ctx, busy); err != nil {
		return err
	}
	h.attached = true
	if h.mode == ReadOnly {
		h.watching = make(chan struct{})
		go h.watch(h.watching)
	}
	return nil
}

// warm attaches the file of a read host that has let go of it within its
// read lease (for a write window of this process), so that the next read
// does not pay for attaching it again. It only tries, once: it gives up if
// a window of this process or a writer of another dbx process waits or
// runs, or another program holds the file; the next read then attaches it
// as usual. The lease still counts from the last query.
func (h *host) warm(ctx context.Context) {
	if h.leaseOver() || h.intent.writerActive() || !h.gate.tryEnterRead() {
		return
	}
	defer h.gate.leaveRead()
	turnTaken, err := h.intent.readerTurn(ctx, h.mode, 0)
	if err != nil {
		return
	}
	defer turnTaken()
	select {
	case h.opening <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-h.opening }()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed || h.leaseOver() {
		return
	}
	if err := h.attachLocked(ctx, 0); err != nil {
		h.log.Debug("dbx: could not attach the file again after a write", "path", h.path, "err", err)
	}
}

// release uncounts a connection. After the last one, a read host keeps the
// file attached until its last query is a lease old (its watcher detaches
// it then), unless a writer waits; other hosts detach at once.
func (h *host) release() {
	h.opening <- struct{}{}
	defer func() { <-h.opening }()
	h.mu.Lock()
	last, closed := h.refs == 1, h.closed
	h.mu.Unlock()
	// Counted down once the file is detached, so that waitIdle returns
	// only when this host no longer holds it.
	defer h.setRefs(-1)
	if !last {
		return
	}
	if closed {
		h.stopWatching()
		h.shutdown()
		return
	}
	if h.mode == ReadOnly && !h.leaseOver() && !h.writerWaiting() {
		return
	}
	h.detach()
}

// writerWaiting reports whether a writer of this or another dbx process
// waits for the file, or Close has begun: read connections then close when
// returned, and the read side lets go.
func (h *host) writerWaiting() bool {
	return (h.gate != nil && h.gate.writeWaiting()) || h.intent.writerActive()
}

// detachIdle detaches the file if no connection uses it.
func (h *host) detachIdle() {
	h.opening <- struct{}{}
	defer func() { <-h.opening }()
	h.mu.Lock()
	idle, closed := h.refs == 0, h.closed
	h.mu.Unlock()
	if idle && !closed {
		h.detach()
	}
}

// detach lets go of the file (the caller holds opening).
func (h *host) detach() {
	if !h.attached {
		return
	}
	h.stopWatching()
	if _, err := h.admin.ExecContext(context.Background(), "DETACH "+Catalog, nil); err != nil {
		h.log.Error("dbx: detach failed; the file may stay locked", "path", h.path, "mode", h.mode, "err", err)
	}
	h.attached = false
	h.log.Debug("dbx: released file", "path", h.path, "mode", h.mode)
}

func (h *host) stopWatching() {
	if h.watching != nil {
		close(h.watching)
		h.watching = nil
	}
}

func (h *host) setRefs(delta int) {
	h.mu.Lock()
	h.refs += delta
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// waitIdle returns once the host has no connection: a write host has then
// detached the file (a read host may keep it for its lease).
func (h *host) waitIdle() {
	for {
		h.mu.Lock()
		refs, changed := h.refs, h.changed
		h.mu.Unlock()
		if refs == 0 {
			return
		}
		<-changed
	}
}

// attach attaches the file, retrying lock conflicts until the busy timeout
// or the context ends.
func (h *host) attach(ctx context.Context, busy time.Duration) error {
	stmt := fmt.Sprintf("ATTACH %s AS %s", quote(h.path), Catalog)
	if h.mode == ReadOnly {
		stmt += " (READ_ONLY)"
	}
	var conflict error // the last lock conflict, if any
	attempts := 0
	waited, err := retryBusy(ctx, busy, time.Millisecond, 10*time.Millisecond, func() (bool, error) {
		attempts++
		_, err := h.admin.ExecContext(ctx, stmt, nil)
		if err != nil && isLockConflict(err) {
			if conflict == nil {
				h.log.Info("dbx: file is locked, retrying", "path", h.path, "mode", h.mode, "err", err)
			}
			conflict = err
			return true, nil
		}
		return false, err
	})
	switch {
	case err == nil:
		if attempts > 1 {
			h.log.Info("dbx: file lock acquired after waiting", "path", h.path, "mode", h.mode, "waited", waited, "attempts", attempts)
		}
		return nil
	case conflict != nil && (errors.Is(err, errStillBusy) || ctx.Err() != nil):
		return newLockError(h.path, h.mode, conflict, waited, ctx.Err())
	case ctx.Err() != nil:
		return fmt.Errorf("dbx: open %s %s: %w", h.path, h.mode, ctx.Err())
	}
	if tooNew := asStorageTooNew(h.path, err); tooNew != nil {
		return tooNew
	}
	return fmt.Errorf("dbx: open %s %s: %w", h.path, h.mode, err)
}

// quote renders s as an SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
