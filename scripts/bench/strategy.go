package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
	"github.com/jmoiron/sqlx"
)

// strategy is one way a server shares a DuckDB file: point reads and
// one-row inserts, safe for concurrent use.
type strategy interface {
	read(ctx context.Context, id int64) error
	write(ctx context.Context, id int64) error
	close() error
}

// strategies lists the names accepted by --strategies, in table order.
var strategies = []string{"persistent-rw", "ro-close-before-write", "per-query", "dbx"}

// strategyLabels are the short names shown in the table and the chart.
var strategyLabels = map[string]string{
	"persistent-rw":         "1 persistent RW",
	"ro-close-before-write": "2 RO, closed for writes",
	"per-query":             "3 per-query open/close",
	"dbx":                   "4 dbx",
}

const (
	pointQuery  = "SELECT name, val FROM t WHERE id = ?"
	insertQuery = "INSERT INTO log VALUES (?, now(), 'bench')"
)

func openStrategy(ctx context.Context, name, path string, readConns int) (strategy, error) {
	switch name {
	case "persistent-rw":
		pool, err := benchfile.OpenPlain(path, false)
		if err != nil {
			return nil, err
		}
		pool.SetMaxOpenConns(readConns + 1)
		pool.SetMaxIdleConns(readConns + 1)
		return &persistentRW{pool: pool}, nil
	case "ro-close-before-write":
		pool, err := benchfile.OpenPlain(path, true)
		if err != nil {
			return nil, err
		}
		return &roCloseBeforeWrite{path: path, pool: pool}, nil
	case "per-query":
		return &perQuery{path: path}, nil
	case "dbx":
		db, err := dbx.Open(ctx, path, dbx.WithReadConns(readConns))
		if err != nil {
			return nil, err
		}
		return &dbxStrategy{db: db}, nil
	}
	return nil, fmt.Errorf("unknown strategy %q", name)
}

func pointRead(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id int64) error {
	var name string
	var val float64
	return q.QueryRowContext(ctx, pointQuery, id).Scan(&name, &val)
}

func insert(ctx context.Context, pool *sql.DB, id int64) error {
	_, err := pool.ExecContext(ctx, insertQuery, id)
	return err
}

// persistentRW is strategy 1: one read-write pool for the process's life.
type persistentRW struct{ pool *sql.DB }

func (s *persistentRW) read(ctx context.Context, id int64) error  { return pointRead(ctx, s.pool, id) }
func (s *persistentRW) write(ctx context.Context, id int64) error { return insert(ctx, s.pool, id) }
func (s *persistentRW) close() error                              { return s.pool.Close() }

// roCloseBeforeWrite is strategy 2: a long-lived read-only pool, closed
// before each write (a process cannot hold two configurations of one
// file) and reopened after it. Reads wait while a write runs.
type roCloseBeforeWrite struct {
	path string
	mu   sync.RWMutex
	pool *sql.DB // nil after a failed reopen
}

func (s *roCloseBeforeWrite) read(ctx context.Context, id int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.pool == nil {
		return errors.New("read pool not open")
	}
	return pointRead(ctx, s.pool, id)
}

func (s *roCloseBeforeWrite) write(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	if s.pool != nil {
		errs = append(errs, s.pool.Close())
		s.pool = nil
	}
	if rw, err := benchfile.OpenPlain(s.path, false); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, insert(ctx, rw, id), rw.Close())
	}
	pool, err := benchfile.OpenPlain(s.path, true)
	s.pool = pool
	return errors.Join(append(errs, err)...)
}

func (s *roCloseBeforeWrite) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		return nil
	}
	return s.pool.Close()
}

// perQuery is strategy 3: open, query, close for every call. Concurrent
// reads share one read-only instance (duckdb-go's instance cache); a write
// waits for them, since the same process cannot open the file read-write
// while it has it open read-only.
type perQuery struct {
	path string
	mu   sync.RWMutex
}

func (s *perQuery) read(ctx context.Context, id int64) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	pool, err := benchfile.OpenPlain(s.path, true)
	if err != nil {
		return err
	}
	return errors.Join(pointRead(ctx, pool, id), pool.Close())
}

func (s *perQuery) write(ctx context.Context, id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pool, err := benchfile.OpenPlain(s.path, false)
	if err != nil {
		return err
	}
	return errors.Join(insert(ctx, pool, id), pool.Close())
}

func (s *perQuery) close() error { return nil }

// dbxStrategy is strategy 4, dbx with its defaults.
type dbxStrategy struct{ db *dbx.DB }

func (s *dbxStrategy) read(ctx context.Context, id int64) error {
	return pointRead(ctx, s.db.Read(), id)
}

func (s *dbxStrategy) write(ctx context.Context, id int64) error {
	return s.db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, insertQuery, id)
		return err
	})
}

func (s *dbxStrategy) close() error { return s.db.Close() }
