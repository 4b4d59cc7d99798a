package dbx

import (
	"errors"
	"strings"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// TestNewLockError parses DuckDB's lock conflicts as each system words
// them (the formats are DuckDB 1.5's, read from its Linux, macOS and
// Windows libraries; Wine words the system's part its own way), on every
// system.
func TestNewLockError(t *testing.T) {
	const unix = `IO Error: Could not set lock on file "/tmp/x.duckdb": Conflicting lock is held in `
	const windows = `IO Error: Cannot open file "C:\Users\ann\x.duckdb": The process cannot access the file because it is being used by another process.` + "\r\n"
	for _, tc := range []struct {
		name   string
		msg    string
		mode   Mode
		exe    string
		pid    int
		holder Mode
		says   string // in Error()
	}{
		{"linux reader holds", unix + "/usr/bin/python3.11 (PID 4242). However, you would be able to open this database in read-only mode, e.g. by using the -readonly parameter in the CLI.",
			ReadWrite, "/usr/bin/python3.11", 4242, ReadOnly, "/usr/bin/python3.11 (PID 4242, read-only)"},
		{"linux writer holds", unix + "/opt/My Apps/healthsim (PID 7). See also https://duckdb.org/docs/stable/connect/concurrency",
			ReadWrite, "/opt/My Apps/healthsim", 7, ReadWrite, "/opt/My Apps/healthsim (PID 7, read-write)"},
		{"macos with user", unix + "/Applications/Claude.app/Contents/MacOS/healthsim (PID 512) by user ann.",
			ReadOnly, "/Applications/Claude.app/Contents/MacOS/healthsim", 512, ReadWrite, "healthsim (PID 512, read-write)"},
		{"unix without executable", unix + "PID 99 by user ann.", ReadOnly, "", 99, ReadWrite, "a program (PID 99, read-write)"},
		{"unix unnamed", `IO Error: Could not set lock on file "/tmp/x.duckdb": Resource temporarily unavailable`,
			ReadWrite, "", 0, ReadWrite, "held by another process, which the system did not name"},
		{"windows restart manager", windows + "File is already open in \nClaude (PID 3120)\npython.exe (PID 88)",
			ReadWrite, "Claude", 3120, "", "Claude (PID 3120)"},
		{"windows reading", windows + "File is already open in \npython.exe (PID 88)",
			ReadOnly, "python.exe", 88, ReadWrite, "python.exe (PID 88, read-write)"},
		{"windows unnamed", windows, ReadWrite, "", 0, "", "which the system did not name"},
		{"windows lock violation", `IO Error: Cannot open file "C:\x.duckdb": The process cannot access the file because another process has locked a portion of the file.`,
			ReadWrite, "", 0, "", "which the system did not name"},
		{"wine sharing violation", `IO Error: Cannot open file "C:\users\ann\Temp\x.duckdb": Sharing violation.` + "\r\n",
			ReadOnly, "", 0, ReadWrite, "which the system did not name"},
		{"wine lock violation", `IO Error: Cannot open file "C:\x.duckdb": Lock violation.` + "\r\n",
			ReadWrite, "", 0, "", "which the system did not name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := &duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: tc.msg}
			if !isLockConflict(err) {
				t.Fatalf("not a lock conflict: %s", tc.msg)
			}
			le := newLockError("/tmp/x.duckdb", tc.mode, err, time.Second, nil)
			if le.Exe != tc.exe || le.PID != tc.pid || le.Holder != tc.holder || le.Mode != tc.mode {
				t.Errorf("got Exe %q PID %d Holder %q Mode %q, want %q %d %q %q", le.Exe, le.PID, le.Holder, le.Mode, tc.exe, tc.pid, tc.holder, tc.mode)
			}
			if !strings.Contains(le.Error(), tc.says) {
				t.Errorf("Error() = %q, want it to say %q", le.Error(), tc.says)
			}
			if !errors.Is(le, ErrLocked) || !errors.Is(le, err) {
				t.Errorf("errors.Is fails for %v", le)
			}
		})
	}
	for _, err := range []error{
		&duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: "Catalog Error: no table"},
		&duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Cannot open file "C:\x.duckdb": The system cannot find the file specified.`},
		errors.New("Could not set lock on file, but not from DuckDB"),
	} {
		if isLockConflict(err) {
			t.Errorf("taken for a lock conflict: %v", err)
		}
	}
}
