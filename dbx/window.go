package dbx

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jmoiron/sqlx"
)

// window is the state of the write window that runs now, if any.
type window struct {
	host *host // the write side's host; nil when the DSN is not a local file

	mu   sync.Mutex
	tx   *sqlx.Tx
	conn *sqlx.Conn
}

// Write runs fn in a write window: one transaction on the database file,
// opened read-write for this call only. Reads in this process wait while it
// runs. If fn returns an error or panics, the transaction is rolled back
// (a panic is re-raised after cleanup); otherwise it is committed (and
// checkpointed as [WithCheckpointEvery] says). When Write returns, this process no longer holds the file's
// write lock. Concurrent calls run one at a time, in the order they came.
//
// Write fails with a [*LockError] if another process holds the file for the
// whole busy timeout, and with an error if read connections of this process
// stay in use that long (a Rows, Tx or Conn from [DB.Read] held across Write).
func (db *DB) Write(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return db.exclusive(ctx, func() error {
		conn, err := db.write.Connx(ctx)
		if err != nil {
			return fmt.Errorf("dbx: write: %w", err)
		}
		defer conn.Close()
		if db.window.host != nil {
			db.window.host.schemaChanged.Store(false) // the last window's CHECKPOINT counted
		}
		tx, err := conn.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("dbx: write: begin: %w", err)
		}
		db.window.set(tx, conn)
		defer db.window.set(nil, nil)
		if err := commitOrRollback(tx, fn); err != nil {
			return err
		}
		if db.gate != nil && db.opts.checkpoint.due(db.path, db.window.host.schemaChanged.Swap(false)) {
			db.checkpoint(ctx, conn)
		}
		return nil
	})
}

// checkpointPolicy says when a write window folds the WAL into the file.
type checkpointPolicy struct {
	every    int   // every n-th window of this process
	walBytes int64 // or when the WAL is this large
	windows  int   // since this process last checkpointed; guarded by DB.writes
}

// due counts a committed window and reports whether it must checkpoint:
// always after anything but row changes (read-only opens cannot replay
// those), else by the policy.
func (p *checkpointPolicy) due(path string, notRowsOnly bool) bool {
	p.windows++
	wal, err := os.Stat(path + ".wal") // Stat, never Open: see the package doc
	if !notRowsOnly && p.windows < p.every && (err != nil || wal.Size() < p.walBytes) {
		return false
	}
	p.windows = 0
	return true
}

// WritePool runs fn in a write window like [DB.Write], but hands it the write
// pool itself instead of a transaction, for tools that manage their own
// transactions (such as goose). The pool has one connection, which stays
// open until fn returns: fn must never need two at once, or it waits forever.
// Whatever fn committed is checkpointed; the file is released before
// WritePool returns.
func (db *DB) WritePool(ctx context.Context, fn func(pool *sql.DB) error) error {
	return db.exclusive(ctx, func() error {
		if db.gate == nil {
			return fn(db.write.DB)
		}
		db.write.SetMaxIdleConns(1) // keep the file attached across fn's calls
		defer db.write.SetMaxIdleConns(0)
		if err := fn(db.write.DB); err != nil {
			return err
		}
		conn, err := db.write.Connx(context.WithoutCancel(ctx))
		if err != nil {
			// fn's work is committed; the next write window checkpoints it.
			db.opts.logger.Warn("dbx: checkpoint after write failed", "path", db.path, "err", err)
			return nil
		}
		defer conn.Close()
		db.checkpoint(ctx, conn)
		return nil
	})
}

// exclusive runs fn as the only writer of this process, in arrival order,
// with the read side drained and kept out; when fn returns, the write side
// has let go of the file.
func (db *DB) exclusive(ctx context.Context, fn func() error) error {
	if err := db.writes.lock(ctx); err != nil {
		return fmt.Errorf("dbx: write: waiting for earlier writes: %w", err)
	}
	defer db.writes.unlock()
	if db.gate == nil {
		return fn()
	}
	// Stop this process's new reads, then announce the write to other dbx
	// processes (waiting for their writer, if any), whose readers now let
	// go of the file while the window waits for it.
	db.gate.startWrite()
	defer func() {
		db.intent.unlock()
		db.lastWindow = time.Now()
		db.gate.endWrite()
	}()
	// Back-to-back windows (a batch import, say) leave readers of every
	// process a turn in between.
	if pause := time.Until(db.lastWindow.Add(readersFirst)); pause > 0 {
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return fmt.Errorf("dbx: write: %w", ctx.Err())
		}
	}
	if err := db.intent.lock(ctx, db.opts.busyTimeout); err != nil {
		return fmt.Errorf("dbx: write: %w", err)
	}
	if err := db.drainReads(ctx); err != nil {
		return err
	}
	// Runs after fn's own deferred closes, panic or not. A transaction
	// cancelled by its context rolls back on another goroutine: wait until
	// the write side has really let go before reads may reopen.
	defer db.window.host.waitIdle()
	return fn()
}

// checkpoint folds committed writes into the file. The commits are already
// durable in the WAL; checkpointing keeps the WAL, which every open
// replays, short. If it fails, the next checkpoint retries.
func (db *DB) checkpoint(ctx context.Context, conn *sqlx.Conn) {
	if _, err := conn.ExecContext(context.WithoutCancel(ctx), "CHECKPOINT"); err != nil {
		db.opts.logger.Warn("dbx: checkpoint after write failed", "path", db.path, "err", err)
	}
}

// releaseIdleReads closes the read pool's idle connections now.
func (db *DB) releaseIdleReads() {
	db.read.SetMaxIdleConns(0)
	db.read.SetMaxIdleConns(db.opts.readConns)
}

// drainReads closes idle read connections and waits, for the busy timeout
// at most, until the read side of this process has let go of the file.
func (db *DB) drainReads(ctx context.Context) error {
	db.releaseIdleReads()
	waitCtx, cancel := context.WithTimeout(ctx, max(db.opts.busyTimeout, time.Millisecond))
	defer cancel()
	open, err := db.gate.waitReaders(waitCtx)
	if err == nil {
		db.readHost.detachIdle() // it may be lingering after its last query
		return nil
	}
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("dbx: write: %d read connection(s) of this process still in use (close Rows, Tx and Conn taken from Read before writing): %w", open, err)
}

// commitOrRollback runs fn in tx, then commits, or rolls back if fn
// returns an error or panics (the panic goes on after the rollback).
func commitOrRollback(tx *sqlx.Tx, fn func(*sqlx.Tx) error) (err error) {
	committed := false
	defer func() {
		if !committed {
			if rbErr := tx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("dbx: write: rollback: %w", rbErr))
			}
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	// DuckDB aborts a transaction on any failed statement and then turns
	// COMMIT into a silent rollback: probe first so that a failure fn
	// ignored is not reported as success.
	if _, err := tx.Exec("SELECT 1"); err != nil {
		return fmt.Errorf("dbx: write: nothing was written: a statement in the window failed earlier: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("dbx: write: commit: %w", err)
	}
	committed = true
	return nil
}

func (w *window) set(tx *sqlx.Tx, conn *sqlx.Conn) {
	w.mu.Lock()
	w.tx, w.conn = tx, conn
	w.mu.Unlock()
}

// RawConn calls f with the duckdb-go connection of the write window whose
// transaction is tx, for duckdb-go features database/sql does not reach,
// such as the Appender (catalog [Catalog]). Rows appended join tx. It fails
// if tx is not the transaction of a running write window of db.
func (db *DB) RawConn(tx *sqlx.Tx, f func(*duckdb.Conn) error) error {
	if db.window.host != nil {
		db.window.host.schemaChanged.Store(true) // unknown statements: checkpoint
	}
	db.window.mu.Lock()
	conn := db.window.conn
	ok := tx != nil && tx == db.window.tx
	db.window.mu.Unlock()
	if !ok {
		return errors.New("dbx: RawConn: tx is not the transaction of a running write window")
	}
	return conn.Raw(func(driverConn any) error {
		dc, ok := DuckDBConn(driverConn)
		if !ok {
			return fmt.Errorf("dbx: RawConn: unexpected driver connection %T", driverConn)
		}
		return f(dc)
	})
}
