package dbx

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// DefaultStorageVersion is the storage version of the files dbx creates
// unless [WithStorageVersion] says otherwise: DuckDB 1.4 and every later
// release read it, so a file made here opens in the DuckDB 1.4 and 1.5
// tools (CLIs, Python, notebooks) next to it, and its checkpoints are
// cheap. DuckDB 2.0 on its own creates v2.0.0 files, which no 1.x release
// opens.
const DefaultStorageVersion = "v1.4.0"

// OldestStorageVersion and LatestStorageVersion bound the storage
// versions this build's DuckDB opens; it writes any of them, and
// LatestStorageVersion for "latest".
const (
	OldestStorageVersion = "v1.0.0"
	LatestStorageVersion = "v2.0.0"
)

// storageVersions names DuckDB's storage version numbers (the number in
// the file header, which DuckDB's errors give) by the release that
// introduced them, as ATTACH's STORAGE_VERSION and duckdb_databases()
// name them.
var storageVersions = map[int]string{
	64: "v1.0.0", 65: "v1.2.0", 66: "v1.3.0", 67: "v1.4.0", 68: "v1.5.0", 69: "v2.0.0",
}

// storageVersionName is the release name of storage version n, or n itself.
func storageVersionName(n int) string {
	if name, ok := storageVersions[n]; ok {
		return name
	}
	return strconv.Itoa(n)
}

// validStorageVersion matches what WithStorageVersion takes; DuckDB itself
// checks that the release exists when it creates a file.
var validStorageVersion = regexp.MustCompile(`^(latest|v\d+\.\d+\.\d+)$`)

// WithStorageVersion sets the storage version of a file that dbx creates:
// a DuckDB release ("v1.4.0", "v2.0.0") whose storage format the file is
// written in, or "latest" for this DuckDB's newest. DuckDB releases older
// than it cannot open the file. An existing file keeps the version it has,
// whatever this says: dbx never upgrades a file (DuckDB's setting
// storage_compatibility_version, which this sets, applies to new files
// only). Default [DefaultStorageVersion].
func WithStorageVersion(version string) Option {
	return func(o *options) error {
		if !validStorageVersion.MatchString(version) {
			return fmt.Errorf("dbx: storage version %q: want a DuckDB release such as %s or v2.0.0, or latest", version, DefaultStorageVersion)
		}
		o.storageVersion = version
		return nil
	}
}

// StorageTooNewError is the error of opening a file written in a storage
// version newer than this program's DuckDB reads: a newer DuckDB made it.
type StorageTooNewError struct {
	Path     string
	Found    int // the file's storage version number
	Min, Max int // the storage version numbers this DuckDB reads
	Err      error
}

func (e *StorageTooNewError) Error() string {
	catalog := strings.TrimSuffix(filepath.Base(e.Path), filepath.Ext(e.Path))
	return fmt.Sprintf("dbx: %s is in storage version %d, from a DuckDB newer than this program's, which reads storage versions %d to %d (%s to %s): "+
		"open it with a build of this program on a newer DuckDB, or have that DuckDB copy it into a version this one reads "+
		"(duckdb %s, then ATTACH 'copy.duckdb' AS copy (STORAGE_VERSION '%s'); COPY FROM DATABASE %s TO copy)",
		e.Path, e.Found, e.Min, e.Max, storageVersionName(e.Min), storageVersionName(e.Max), e.Path, storageVersionName(e.Max), catalog)
}

func (e *StorageTooNewError) Unwrap() error { return e.Err }

// tooNewText matches DuckDB's refusal of a newer file: "Trying to read a
// database file with storage version number 70, but we can only read
// storage versions between 64 and 69" (2.0; 1.5 says "version number"
// and "versions between").
var tooNewText = regexp.MustCompile(`with (?:storage )?version number (\d+), but we can only read (?:storage )?versions between (\d+) and (\d+)`)

// asStorageTooNew returns err as a *StorageTooNewError if it is DuckDB's
// refusal of a file from a newer DuckDB, or nil.
func asStorageTooNew(path string, err error) error {
	m := tooNewText.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	found, _ := strconv.Atoi(m[1])
	lo, _ := strconv.Atoi(m[2])
	hi, _ := strconv.Atoi(m[3])
	if found <= hi {
		return nil
	}
	return &StorageTooNewError{Path: path, Found: found, Min: lo, Max: hi, Err: err}
}
