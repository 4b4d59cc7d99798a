package archive

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// engine is the private in-memory DuckDB instance that writes and reads
// Parquet files. It never attaches a database file: it only ever sees the
// rows appended to its own tables and the Parquet files of an export.
type engine struct {
	db   *sql.DB
	conn *sql.Conn
}

func newEngine(ctx context.Context) (*engine, error) {
	connector, err := duckdb.NewConnector("", nil) // "": in memory
	if err != nil {
		return nil, fmt.Errorf("archive: start the Parquet engine: %w", err)
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err == nil {
		// Files keep the rows' order: the entities' order within a type.
		_, err = conn.ExecContext(ctx, `SET preserve_insertion_order = true;
			CREATE TABLE scenarios (id VARCHAR, name VARCHAR, description VARCHAR, tags VARCHAR[], created_at TIMESTAMP, updated_at TIMESTAMP);
			CREATE TABLE entities (entity_type VARCHAR, entity_id VARCHAR, entity_data VARCHAR)`)
	}
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		db.Close()
		return nil, fmt.Errorf("archive: start the Parquet engine: %w", err)
	}
	return &engine{db: db, conn: conn}, nil
}

func (e *engine) close() error {
	if e == nil {
		return nil
	}
	return errors.Join(e.conn.Close(), e.db.Close())
}

// appendRows empties table and appends rows to it through the Appender.
func (e *engine) appendRows(ctx context.Context, table string, rows func(a *duckdb.Appender) error) error {
	if _, err := e.conn.ExecContext(ctx, "DELETE FROM "+table); err != nil {
		return err
	}
	return e.conn.Raw(func(dc any) error {
		a, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", table)
		if err != nil {
			return err
		}
		if err := rows(a); err != nil {
			a.Close()
			return err
		}
		return a.Close()
	})
}

func (e *engine) copyTo(ctx context.Context, table, path string) error {
	_, err := e.conn.ExecContext(ctx, fmt.Sprintf("COPY %s TO %s (FORMAT parquet)", table, sqlString(path)))
	return err
}

func (e *engine) writeHeader(ctx context.Context, path string, rec *scenario.Record) error {
	err := e.appendRows(ctx, "scenarios", func(a *duckdb.Appender) error {
		return a.AppendRow(rec.ID, rec.Name, rec.Description, nonNil(rec.Tags), rec.CreatedAt.UTC(), rec.UpdatedAt.UTC())
	})
	if err != nil {
		return err
	}
	return e.copyTo(ctx, "scenarios", path)
}

func (e *engine) writeEntities(ctx context.Context, path string, rec *scenario.Record) error {
	err := e.appendRows(ctx, "entities", func(a *duckdb.Appender) error {
		for _, ent := range rec.Entities {
			if err := a.AppendRow(ent.Type, ent.ID, string(ent.Data)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return e.copyTo(ctx, "entities", path)
}

func (e *engine) readHeader(ctx context.Context, path string) (*scenario.Record, error) {
	rows, err := e.conn.QueryContext(ctx, `SELECT id::VARCHAR, name::VARCHAR, coalesce(description, '')::VARCHAR,
		coalesce(tags, [])::VARCHAR[], created_at::TIMESTAMP, updated_at::TIMESTAMP FROM read_parquet(?)`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var recs []*scenario.Record
	for rows.Next() {
		rec := &scenario.Record{}
		var tags []any
		if err := rows.Scan(&rec.ID, &rec.Name, &rec.Description, &tags, &rec.CreatedAt, &rec.UpdatedAt); err != nil {
			return nil, err
		}
		rec.Tags = []string{}
		for _, t := range tags {
			if s, ok := t.(string); ok {
				rec.Tags = append(rec.Tags, s)
			}
		}
		rec.CreatedAt, rec.UpdatedAt = rec.CreatedAt.UTC(), rec.UpdatedAt.UTC()
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(recs) != 1 {
		return nil, fmt.Errorf("%d scenarios in the file, want 1", len(recs))
	}
	return recs[0], nil
}

func (e *engine) readEntities(ctx context.Context, path string) ([]scenario.EntityRecord, error) {
	rows, err := e.conn.QueryContext(ctx, `SELECT entity_type::VARCHAR, entity_id::VARCHAR, entity_data::VARCHAR FROM read_parquet(?)`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []scenario.EntityRecord
	for rows.Next() {
		var ent scenario.EntityRecord
		var data string
		if err := rows.Scan(&ent.Type, &ent.ID, &data); err != nil {
			return nil, err
		}
		ent.Data = json.RawMessage(data)
		out = append(out, ent)
	}
	return out, rows.Err()
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
