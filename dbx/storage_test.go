package dbx_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	"github.com/jmoiron/sqlx"
)

// storageVersion returns the file's storage version as DuckDB names it
// ("v1.4.0+"), read through db.
func storageVersion(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}) string {
	t.Helper()
	var v string
	if err := q.QueryRow("SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = current_database()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStorageVersionOfNewFiles: a file dbx creates is in
// DefaultStorageVersion, which DuckDB 1.4 and 1.5 open (DuckDB 2.0's own
// default is v2.0.0), unless WithStorageVersion or the DSN says otherwise.
func TestStorageVersionOfNewFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []dbx.Option
		want string
	}{
		{"default", nil, dbx.DefaultStorageVersion + "+"},
		{"v2.0.0", []dbx.Option{dbx.WithStorageVersion("v2.0.0")}, "v2.0.0+"},
		{"latest", []dbx.Option{dbx.WithStorageVersion("latest")}, dbx.LatestStorageVersion + "+"},
		{"v1.2.0", []dbx.Option{dbx.WithStorageVersion("v1.2.0")}, "v1.2.0+"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "new.duckdb")
			db := open(t, path, tc.opts...)
			if err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
				_, err := tx.Exec("CREATE TABLE t (x INTEGER)")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if got := storageVersion(t, db.Read()); got != tc.want {
				t.Errorf("new file in storage version %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("routed DSN", func(t *testing.T) {
		db, _ := openRouted(t, "storage_version=v1.5.0")
		if _, err := db.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
			t.Fatal(err)
		}
		if got := storageVersion(t, db); got != "v1.5.0+" {
			t.Errorf("new file in storage version %s, want v1.5.0+", got)
		}
	})
}

// TestStorageVersionKept: dbx never changes an existing file's storage
// version, whatever WithStorageVersion says, through writes, checkpoints
// and Close; neither for an older file nor for one in DuckDB 2.0's own
// default, made by plain DuckDB.
func TestStorageVersionKept(t *testing.T) {
	for _, tc := range []struct {
		name, made string // made: the file's version; "": plain DuckDB 2.0's default
		opt        string
		want       string
	}{
		{"v1.4.0 file, told v2.0.0", "v1.4.0", "v2.0.0", "v1.4.0+"},
		{"v1.2.0 file, told latest", "v1.2.0", "latest", "v1.2.0+"},
		{"DuckDB 2.0's default file, told v1.4.0", "", "v1.4.0", "v2.0.0+"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kept.duckdb")
			dsn := path
			if tc.made != "" {
				dsn += "?storage_compatibility_version=" + tc.made
			}
			raw, err := proctest.OpenRaw(dsn, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
				t.Fatal(err)
			}
			raw.Close()
			db, err := dbx.Open(context.Background(), path, dbx.WithStorageVersion(tc.opt), dbx.WithCheckpointEvery(1, 1))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := insert(context.Background(), db, i); err != nil {
					t.Fatal(err)
				}
			}
			if got := storageVersion(t, db.Read()); got != tc.want {
				t.Errorf("after writes and checkpoints: storage version %s, want %s", got, tc.want)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			raw, err = proctest.OpenRaw(path, true)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			if got := storageVersion(t, raw); got != tc.want {
				t.Errorf("after Close: storage version %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAttachStorageVersionUpgrades is the control of TestStorageVersionKept:
// DuckDB's ATTACH … (STORAGE_VERSION …) on an existing file upgrades it at
// the next checkpoint, without a word, which is why dbx sets storage_compatibility_version
// instead. If DuckDB stops doing so, this fails, and dbx may choose again.
func TestAttachStorageVersionUpgrades(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.duckdb")
	raw, err := proctest.OpenRaw(path+"?storage_compatibility_version=v1.4.0", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec("CREATE TABLE t (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	mem, err := proctest.OpenRaw(":memory:", false)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	if _, err := mem.Exec("ATTACH '" + path + "' AS f (STORAGE_VERSION 'v2.0.0'); INSERT INTO f.t VALUES (1); CHECKPOINT f; DETACH f"); err != nil {
		t.Fatal(err)
	}
	raw, err = proctest.OpenRaw(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if got := storageVersion(t, raw); got != "v2.0.0+" {
		t.Errorf("after ATTACH (STORAGE_VERSION 'v2.0.0'), a write and a checkpoint: %s; DuckDB no longer upgrades an existing file this way", got)
	}
}

// TestStorageVersionNames: every storage version dbx names is one DuckDB
// creates under that name, and "latest" is LatestStorageVersion: a DuckDB
// upgrade that adds a storage version fails here until dbx knows it.
func TestStorageVersionNames(t *testing.T) {
	for _, version := range append(dbx.StorageVersions(), "latest") {
		path := filepath.Join(t.TempDir(), "v.duckdb")
		raw, err := proctest.OpenRaw(path+"?storage_compatibility_version="+version, false)
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		got := storageVersion(t, raw)
		raw.Close()
		want := version + "+"
		if version == "latest" {
			want = dbx.LatestStorageVersion + "+"
		}
		if got != want {
			t.Errorf("a file made in %s is in %s, want %s", version, got, want)
		}
	}
}

func TestStorageVersionRefused(t *testing.T) {
	for _, version := range []string{"", "2.0", "v2", "v1.4.0; DROP TABLE t", "v9.9.9"} {
		dir := t.TempDir()
		db, err := dbx.Open(context.Background(), filepath.Join(dir, "x.duckdb"), dbx.WithStorageVersion(version))
		if err == nil {
			err = insert(context.Background(), db, 1)
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "storage version") || !strings.Contains(err.Error(), "such as v1.4.0 or v2.0.0") {
			t.Errorf("storage version %q: %v, want an error naming the storage version and good ones", version, err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("storage version %q: Open left %v behind", version, entries)
		}
		if dbx.CheckStorageVersion(version) == nil {
			t.Errorf("CheckStorageVersion(%q) = nil", version)
		}
	}
	for _, version := range []string{"v1.4.0", "v2.0.0", "latest", "v1.1.3", "v0.10.2"} {
		if err := dbx.CheckStorageVersion(version); err != nil {
			t.Errorf("CheckStorageVersion(%q) = %v", version, err)
		}
	}
	for release, want := range map[string]string{"v1.1.3": "v1.0.0", "v1.4.2": "v1.4.0", "v2.0.0": "v2.0.0", "latest": dbx.LatestStorageVersion, "v1.5.0": "v1.5.0", "v0.10.2": "v1.0.0"} {
		if got := dbx.StorageVersionOf(release); got != want {
			t.Errorf("StorageVersionOf(%q) = %q, want %q", release, got, want)
		}
	}
}

// TestStorageTooNew: a file from a DuckDB newer than this build's is
// refused with a StorageTooNewError that names its version and what this
// build reads, for reads and writes, and the file is left as it was.
func TestStorageTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "future.duckdb")
	if err := proctest.MakeFutureFile(path); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, path, dbx.WithBusyTimeout(0))
	var n int
	for what, err := range map[string]error{
		"read":  db.Read().Get(&n, "SELECT 1"),
		"write": insert(context.Background(), db, 1),
	} {
		var tooNew *dbx.StorageTooNewError
		if !errors.As(err, &tooNew) {
			t.Fatalf("%s: %v, want a StorageTooNewError", what, err)
		}
		if tooNew.Found != 70 || tooNew.Max != 69 || tooNew.Path != path {
			t.Errorf("%s: %+v", what, tooNew)
		}
		for _, want := range []string{path, "storage version 70", "64 to 69", dbx.LatestStorageVersion, "from a DuckDB newer", "ATTACH '" + path + "' AS src (READ_ONLY)", "COPY FROM DATABASE src TO copy"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", what, err, want)
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: not one line: %q", what, err)
		}
	}
	db.Close()
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Errorf("the file changed (%v)", err)
	}
}
