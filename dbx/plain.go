package dbx

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// poolSide is the write side of a DSN without a file lock (see
// [IsLocalFile]): one ordinary duckdb-go pool, which reads share; a
// window is a plain transaction on it.
type poolSide struct{ pool *sqlx.DB }

func (p poolSide) take(ctx context.Context) (*sqlx.Conn, error) {
	conn, err := p.pool.Connx(ctx)
	if err != nil {
		return nil, fmt.Errorf("dbx: write: %w", err)
	}
	return conn, nil
}

func (p poolSide) end(conn *sqlx.Conn, _, _ bool) { conn.Close() }

func (p poolSide) runPool(_ context.Context, fn func(*sql.DB) error) error { return fn(p.pool.DB) }

func (p poolSide) close() error { return p.pool.Close() }
