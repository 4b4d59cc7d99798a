package dbx

import (
	"errors"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

func TestNewLockError(t *testing.T) {
	const prefix = `IO Error: Could not set lock on file "/tmp/x.duckdb": Conflicting lock is held in `
	for _, tc := range []struct {
		msg    string
		mode   Mode
		exe    string
		pid    int
		holder Mode
	}{
		{prefix + "/usr/bin/python3.11 (PID 4242). However, you would be able to open this database in read-only mode, e.g. by using the -readonly parameter in the CLI.",
			ReadWrite, "/usr/bin/python3.11", 4242, ReadOnly},
		{prefix + "/opt/My Apps/healthsim (PID 7). See also https://duckdb.org/docs/stable/connect/concurrency",
			ReadWrite, "/opt/My Apps/healthsim", 7, ReadWrite},
		{prefix + "/usr/bin/duckdb (PID 99).", ReadOnly, "/usr/bin/duckdb", 99, ReadWrite},
		{`IO Error: Could not set lock on file "/tmp/x.duckdb": Resource temporarily unavailable`, ReadWrite, "", 0, ReadWrite},
	} {
		err := &duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: tc.msg}
		if !isLockConflict(err) {
			t.Fatalf("not a lock conflict: %s", tc.msg)
		}
		le := newLockError("/tmp/x.duckdb", tc.mode, err, time.Second, nil)
		if le.Exe != tc.exe || le.PID != tc.pid || le.Holder != tc.holder || le.Mode != tc.mode {
			t.Errorf("%s:\n got %+v", tc.msg, le)
		}
		if !errors.Is(le, ErrLocked) || !errors.Is(le, err) {
			t.Errorf("errors.Is fails for %v", le)
		}
	}
	if isLockConflict(&duckdb.Error{Type: duckdb.ErrorTypeCatalog, Msg: "Catalog Error: no table"}) {
		t.Error("catalog error taken for a lock conflict")
	}
}
