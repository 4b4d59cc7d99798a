package dbx

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ErrLocked is matched (with [errors.Is]) by every error that reports the
// database file as held by another process.
var ErrLocked = errors.New("dbx: database file is locked by another process")

// Mode is an access mode for the database file.
type Mode string

const (
	ReadOnly  Mode = "read-only"
	ReadWrite Mode = "read-write"
)

// LockError reports that the database file could not be opened in Mode
// because another process held a conflicting lock for the whole busy
// timeout (or until the context ended). It satisfies errors.Is(err, ErrLocked).
type LockError struct {
	Path   string        // the database file
	Mode   Mode          // the access this process asked for
	PID    int           // the holder's process id; 0 if DuckDB did not say
	Exe    string        // the holder's executable, as DuckDB reports it
	Holder Mode          // the holder's access, as far as DuckDB's message tells
	Waited time.Duration // how long this process retried
	Err    error         // DuckDB's last error
	Cause  error         // the context's error if the context ended the wait, else nil
}

func (e *LockError) Error() string {
	who := "another process"
	if e.PID != 0 {
		who = fmt.Sprintf("%s (PID %d, %s)", e.Exe, e.PID, e.Holder)
	}
	why := fmt.Sprintf("gave up after %s", e.Waited.Round(time.Millisecond))
	if e.Cause != nil {
		why = fmt.Sprintf("%v after %s", e.Cause, e.Waited.Round(time.Millisecond))
	}
	return fmt.Sprintf("dbx: cannot open %s %s: it is held by %s; close that process or try again later (%s)",
		e.Path, e.Mode, who, why)
}

// Is reports whether target is ErrLocked.
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// Unwrap returns DuckDB's error and, if the context ended the wait, its error.
func (e *LockError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// holderPattern matches DuckDB's
// `Could not set lock on file "PATH": Conflicting lock is held in EXE (PID N).`
var holderPattern = regexp.MustCompile(`Conflicting lock is held in (.*?) ?\(PID (\d+)\)`)

// isLockConflict reports whether err is DuckDB failing to lock the file.
func isLockConflict(err error) bool {
	var de *duckdb.Error
	return errors.As(err, &de) && de.Type == duckdb.ErrorTypeIO &&
		strings.Contains(de.Msg, "Could not set lock on file")
}

// newLockError describes DuckDB's lock conflict err for a request of mode.
func newLockError(path string, mode Mode, err error, waited time.Duration, cause error) *LockError {
	le := &LockError{Path: path, Mode: mode, Err: err, Waited: waited, Cause: cause, Holder: ReadWrite}
	msg := err.Error()
	if m := holderPattern.FindStringSubmatch(msg); m != nil {
		le.Exe = m[1]
		le.PID, _ = strconv.Atoi(m[2])
	}
	// DuckDB adds this hint only when the holder is a reader.
	if mode == ReadWrite && strings.Contains(msg, "open this database in read-only mode") {
		le.Holder = ReadOnly
	}
	return le
}
