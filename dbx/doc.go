// Package dbx lets many processes share one DuckDB file.
//
// DuckDB allows any number of read-only processes or one read-write process
// on a file, never both, and fails at once instead of waiting. A program that
// keeps a read-write connection open for its lifetime therefore locks every
// other process out, and one that keeps a read-only connection open blocks
// every writer.
//
// A [DB] holds two pools over one file. [DB.Read] is a long-lived read-only
// pool whose file lock is released once it has been idle for the read lease
// (see [WithReadLease]). [DB.Write] runs a function in a short write window:
// reads in this process wait, the read side lets go of the file, the file is
// opened read-write, and the function runs in one transaction. The write
// side lets go of the file once the window has committed, before Write
// returns (unless a window of this process is queued behind it, or
// [WithWriteLinger] says otherwise), and the read side attaches it again
// in the background if it was in use. Opening either side retries lock
// conflicts until the busy timeout (see [WithBusyTimeout]) and then returns a
// [*LockError] that names the process holding the file.
//
// For code written against database/sql (sqlc, goose, sqlx, query
// builders), the package registers the driver "dbx": sql.Open("dbx",
// path) or [OpenDB] gives one *sql.DB over both sides, each statement
// routed by its DuckDB statement type: reads to the read pool, other
// statements to a write window of their own, a read-only transaction to
// the read side and any other transaction to one write window from
// BeginTx to Commit or Rollback. Statements that need one connection's
// session (SET, USE, ATTACH, BEGIN as text, PREPARE) are refused
// ([ErrRefused]).
//
// Both pools attach the file to an in-memory DuckDB instance (a "host")
// under the catalog name "db", which every connection uses by default, so
// unqualified table names refer to the file. Detaching releases the lock
// while the host stays open, which makes switching modes cheap.
//
// Never open the database file with os.Open (or anything that closes a file
// descriptor of it) in a process that uses dbx: on Linux and macOS, closing
// any descriptor of a file drops all of the process's locks on it.
//
// dbx keeps the same promises on Linux, macOS and Windows, whose file
// locks differ; docs/platforms.md in the repository says how, and
// docs/dbx.md gives the states, invariants, lock order and timers.
package dbx
