package dbx

import (
	"cmp"
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
//
// The holder comes from DuckDB's error when another program holds the
// file (DuckDB names it on Linux, macOS and Windows, where the system
// lets it), or from the sidecar when another dbx process holds the write
// intent (see [IntentHolder]).
type LockError struct {
	Path   string        // the database file
	Mode   Mode          // the access this process asked for
	PID    int           // the holder's process id; 0 if the system did not say
	Exe    string        // the holder's executable or application name; "" if unknown
	Holder Mode          // the holder's access; "" if nothing tells (Windows, asking read-write)
	Waited time.Duration // how long this process retried
	Err    error         // DuckDB's last error, or the sidecar's
	Cause  error         // the context's error if the context ended the wait, else nil
}

func (e *LockError) Error() string {
	who := "another process, which the system did not name"
	if e.PID != 0 {
		details := []string{fmt.Sprintf("PID %d", e.PID)}
		if e.Holder != "" {
			details = append(details, string(e.Holder))
		}
		who = fmt.Sprintf("%s (%s)", cmp.Or(e.Exe, "a program"), strings.Join(details, ", "))
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

// holderPattern matches how DuckDB names the process that holds the file.
// Linux and macOS: `Could not set lock on file "PATH": Conflicting lock is
// held in EXE (PID N) by user U.`, or `… held in PID N …` when it cannot
// name the executable. Windows, from the Restart Manager: `Cannot open
// file "PATH": <system message>File is already open in \nAPP (PID N)`, a
// line per process. Every form is parsed on every system.
var holderPattern = regexp.MustCompile(`(?:Conflicting lock is held in|File is already open in)\s*(?:(.*?)\s*\(PID (\d+)\)|PID (\d+))`)

// lockConflictMarks are the parts of DuckDB's IO errors that mean another
// process holds the file: its own text on Linux and macOS, and on Windows
// its Restart Manager text or, when that finds nobody, the system's
// (English) sharing and lock violation messages, as Windows and as Wine
// word them.
var lockConflictMarks = []string{
	"Could not set lock on file",
	"File is already open in",
	"being used by another process",                    // Windows: ERROR_SHARING_VIOLATION
	"another process has locked a portion of the file", // Windows: ERROR_LOCK_VIOLATION
	"Sharing violation.",                               // Wine: ERROR_SHARING_VIOLATION
	"Lock violation.",                                  // Wine: ERROR_LOCK_VIOLATION
}

// IsLockConflict reports whether err, from opening a database file with
// dbx or with plain duckdb-go, says that another process holds the file:
// a [LockError], or DuckDB's own error in any of the forms it takes on
// Linux, macOS and Windows (and under Wine).
func IsLockConflict(err error) bool { return errors.Is(err, ErrLocked) || isLockConflict(err) }

// isLockConflict reports whether err is DuckDB failing to lock the file.
func isLockConflict(err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) || de.Type != duckdb.ErrorTypeIO {
		return false
	}
	for _, mark := range lockConflictMarks {
		if strings.Contains(de.Msg, mark) {
			return true
		}
	}
	return false
}

// newLockError describes DuckDB's lock conflict err for a request of mode.
func newLockError(path string, mode Mode, err error, waited time.Duration, cause error) *LockError {
	le := &LockError{Path: path, Mode: mode, Err: err, Waited: waited, Cause: cause}
	msg := err.Error()
	if m := holderPattern.FindStringSubmatch(msg); m != nil {
		le.Exe = strings.TrimSpace(m[1])
		le.PID, _ = strconv.Atoi(cmp.Or(m[2], m[3]))
	}
	switch {
	case mode == ReadOnly:
		le.Holder = ReadWrite // readers never conflict with each other
	case strings.Contains(msg, "open this database in read-only mode"):
		le.Holder = ReadOnly // DuckDB adds this hint only when the holder reads
	case strings.Contains(msg, "Could not set lock on file"):
		le.Holder = ReadWrite // fcntl: without the hint, the holder writes
	}
	return le
}
