package dbx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"
	"golang.org/x/sync/semaphore"
)

// ErrClosed is returned by [DB.Write], [DB.WritePool], [DB.ReplaceFile]
// and [DB.RawConn] after [DB.Close], at once, and by a read that begins
// once Close has begun.
var ErrClosed = errors.New("dbx: database is closed")

// ErrBusy is matched by the error of a call that waited the busy timeout
// for this process's write windows: a read while a window runs, or a
// write queued behind earlier ones. Inside a window's function, read and
// write through its transaction instead. (Another process holding the
// file gives a [*LockError].)
var ErrBusy = errors.New("dbx: busy with a write window of this process")

// ErrReadsInUse is matched by the error of a write that waited the busy
// timeout for read connections of this process still in use: a Rows, Tx
// or Conn taken from [DB.Read] and held across the write.
var ErrReadsInUse = errors.New("dbx: read connections of this process still in use")

// ErrRefused is wrapped by the error of a statement that dbx does not
// run: one the dbx driver refuses, or one that does not only read, on a
// read connection that runs on the write side ([WithReadsDuringWrites]).
// The error says why and what to use instead.
var ErrRefused = errors.New("dbx: statement refused")

func refused(why string) error { return fmt.Errorf("%w: %s", ErrRefused, why) }

// DB is a DuckDB database shared with other processes: a read pool that
// lets go of the file when idle, and write windows. It is safe for
// concurrent use. Close it when done.
type DB struct {
	path   string
	opts   options
	closed atomic.Bool

	read   *sqlx.DB
	side   writeSide           // *fileSide, or poolSide when the DSN is not a local file
	writes *semaphore.Weighted // of 1: queues write windows in arrival order
	queued atomic.Int32        // windows waiting for writes
	window window
	kinds  kindCache // statement types, for the routed driver (router.go)
}

// IsLocalFile reports whether dsn names a local database file, which dbx
// shares through file locks. In-memory databases (":memory:", ""),
// MotherDuck ("md:", "motherduck:"), DuckLake ("ducklake:"), a quack
// server ("quack:localhost") and URLs ("s3://…") have no file lock; [Open]
// gives them one ordinary pool.
func IsLocalFile(dsn string) bool {
	if dsn == "" || dsn == ":memory:" || strings.HasPrefix(dsn, ":memory:") || strings.Contains(dsn, "://") {
		return false
	}
	for _, prefix := range []string{"md:", "motherduck:", "ducklake:", "quack:"} {
		if strings.HasPrefix(dsn, prefix) {
			return false
		}
	}
	return true
}

// Open opens the DuckDB database at path, creating the file if it does not
// exist (in [DefaultStorageVersion], or as [WithStorageVersion] says). The file itself is opened lazily: by the first read, and by each
// write window. If path is not a local file (see [IsLocalFile]), Open
// returns a DB over one ordinary duckdb-go pool on which Write is a plain
// transaction.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	o := defaultOptions()
	if err := o.apply(opts); err != nil {
		return nil, err
	}
	if !IsLocalFile(path) {
		return openShared(path, o)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("dbx: open %s: %w", path, err)
	}
	if info, err := os.Stat(abs); err == nil && info.IsDir() {
		return nil, fmt.Errorf("dbx: open %s: is a directory", abs)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("dbx: open %s: %w", abs, err)
	}
	writeHost, err := newHost(abs, ReadWrite, o, nil, nil)
	if err != nil {
		return nil, err
	}
	gate, in := newGate(), openIntent(abs)
	if in == nil {
		o.logger.Warn("dbx: cannot open the sidecar lock file; writers of other dbx processes may wait while this one reads", "path", abs+IntentSuffix)
	}
	readHost, err := newHost(abs, ReadOnly, o, gate, in) // owns the intent from here on
	if err != nil {
		in.close()
		writeHost.Close()
		return nil, err
	}
	db := &DB{path: abs, opts: o, writes: semaphore.NewWeighted(1)}
	f := &fileSide{path: abs, opts: o, writes: db.writes, queued: func() bool { return db.queued.Load() > 0 },
		read: sqlx.NewDb(sql.OpenDB(readHost), "duckdb"), readHost: readHost,
		write: sqlx.NewDb(sql.OpenDB(writeHost), "duckdb"), writeHost: writeHost,
		gate: gate, intent: in, checkpoints: checkpoints{checkpointPolicy: o.checkpoint}}
	f.stop, f.cancel = context.WithCancel(context.Background())
	f.read.SetMaxOpenConns(o.readConns)
	f.read.SetMaxIdleConns(o.readConns)
	f.write.SetMaxOpenConns(1)
	f.write.SetMaxIdleConns(0)
	readHost.letGo = f.releaseIdleReads
	if o.readsDuringWrites {
		readHost.writeSide = writeHost
	}
	db.read, db.side = f.read, f

	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		if err := db.Write(ctx, func(*sqlx.Tx) error { return nil }); err != nil {
			db.Close()
			return nil, fmt.Errorf("dbx: create %s: %w", abs, err)
		}
		o.logger.Info("dbx: created database file", "path", abs)
	}
	return db, nil
}

// openShared opens a DSN without a file lock as one ordinary pool.
func openShared(dsn string, o options) (*DB, error) {
	connector, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("dbx: open %s: %w", dsn, err)
	}
	pool := sqlx.NewDb(sql.OpenDB(connector), "duckdb")
	pool.SetMaxOpenConns(o.readConns)
	return &DB{path: dsn, opts: o, read: pool, side: poolSide{pool}, writes: semaphore.NewWeighted(1)}, nil
}

// Path returns the absolute path of the database file, or the DSN if it is
// not a local file.
func (db *DB) Path() string { return db.path }

// Read returns the read pool. On a local file it is read-only at the engine
// level, cannot touch other files, and cannot change its configuration.
// Reads wait while a write window of this process runs, the busy timeout
// at most ([ErrBusy]), unless [WithReadsDuringWrites]. Do not hold a
// connection, transaction or open Rows from it across a call to Write:
// the write waits for it and fails after the busy timeout
// ([ErrReadsInUse]; with WithReadsDuringWrites, one taken during a write
// keeps the write side from letting go of the file). Leave its idle
// connection limit alone: dbx sets it to close idle connections when the
// file must be let go, and a connection opened while the write side
// shares the file runs there until it closes.
func (db *DB) Read() *sqlx.DB { return db.read }

// Close waits for the running write window, if any, lets go of a
// lingering write side, checkpoints the windows still in the WAL (see
// [WithCheckpointEvery]; it tries for the busy timeout, a second at most,
// and leaves them in the WAL if the file stays busy), closes both pools,
// and waits until every connection taken from Read has been returned: then
// this process holds no lock on the file or its sidecars. Write,
// WritePool, ReplaceFile and RawConn fail with [ErrClosed] afterwards,
// reads with database/sql's "sql: database is closed". Close is idempotent.
func (db *DB) Close() error {
	if !db.closed.CompareAndSwap(false, true) {
		return nil
	}
	return db.side.close()
}
