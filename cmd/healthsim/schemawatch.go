package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/migrations"
)

// schemaError says that the database's schema is not the one this server
// needs, and what fixes it. It is what every tool call answers meanwhile.
type schemaError struct {
	path        string
	found, need int64
}

func (e *schemaError) Error() string {
	if e.found > e.need {
		return fmt.Sprintf("the database %s is at schema version %d, newer than this server knows (version %d): upgrade healthsim (this is %s) and restart the MCP server, then call this tool again",
			e.path, e.found, e.need, buildVersion())
	}
	return fmt.Sprintf("the database %s is at schema version %d, but this server needs version %d: run `healthsim migrate up --db %s`, then call this tool again",
		e.path, e.found, e.need, e.path)
}

// schemaWatch checks before each tool call that the schema is still the
// one the server needs, so that a `healthsim migrate down` run beside it
// is answered with a *schemaError instead of engine errors.
//
// Reading the version costs a query (migrations.AppliedVersion), too much
// for every call; stat-ing the file and its WAL costs far less
// (BenchmarkSchemaCheck measures both). So check re-reads the version
// only when the file's or the WAL's size or modification time changed
// since the last read: every migration another process runs changes one
// of them (its write window appends to the WAL; its checkpoint rewrites
// the file). The saves of this and other servers change them too, and
// cost one read at the next call. It is not safe for concurrent use
// (whenPrepared calls it one call at a time).
type schemaWatch struct {
	db      *dbx.DB
	need    int64     // the newest migration this binary knows
	seen    fileState // of the file and WAL when version was read; zero: never read
	version int64
}

// fileState is what os.Stat says of the database file and its WAL.
type fileState struct {
	read                bool // the version was read at this state
	size, walSize       int64
	modTime, walModTime time.Time
}

func statFiles(path string) fileState {
	s := fileState{read: true, size: -1, walSize: -1}
	if info, err := os.Stat(path); err == nil {
		s.size, s.modTime = info.Size(), info.ModTime()
	}
	if info, err := os.Stat(path + ".wal"); err == nil {
		s.walSize, s.walModTime = info.Size(), info.ModTime()
	}
	return s
}

// check returns a *schemaError unless the schema is at the newest
// migration this binary knows, or the error of reading the version.
func (w *schemaWatch) check(ctx context.Context) error {
	// Stat first: a change after it makes the next call read again.
	if now := statFiles(w.db.Path()); now != w.seen {
		v, err := migrations.AppliedVersion(ctx, w.db)
		if err != nil {
			return err
		}
		w.version, w.seen = v, now
	}
	if w.version != w.need {
		return &schemaError{path: w.db.Path(), found: w.version, need: w.need}
	}
	return nil
}
