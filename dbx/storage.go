package dbx

import (
	"cmp"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DefaultStorageVersion is the storage version of the files dbx creates
// unless [WithStorageVersion] says otherwise: DuckDB 1.4 and every later
// release read it, so a file made here opens in the DuckDB 1.4 and 1.5
// tools (CLIs, Python, notebooks) next to it, and its checkpoints are
// cheap. DuckDB 2.0 on its own creates v2.0.0 files, which no 1.x release
// opens.
const DefaultStorageVersion = "v1.4.0"

// OldestStorageVersion and LatestStorageVersion bound the storage
// versions this build's DuckDB opens (v1.0.0 is also what DuckDB 0.10
// wrote); it writes any of them, and LatestStorageVersion for "latest".
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

// validStorageVersion matches what WithStorageVersion takes, before
// DuckDB says whether it knows the release.
var validStorageVersion = regexp.MustCompile(`^(latest|v\d+\.\d+\.\d+)$`)

// CheckStorageVersion returns an error unless version is one that
// [WithStorageVersion] takes: "latest", or a DuckDB release that this
// DuckDB knows. Besides the default and "latest", it asks an in-memory
// DuckDB instance. It creates nothing.
func CheckStorageVersion(version string) error {
	bad := fmt.Errorf("dbx: storage version %q: want a DuckDB release that this DuckDB knows, such as %s or %s, or latest", version, DefaultStorageVersion, LatestStorageVersion)
	if !validStorageVersion.MatchString(version) {
		return bad
	}
	if version == DefaultStorageVersion || version == "latest" {
		return nil
	}
	connector, err := duckdb.NewConnector(":memory:", nil)
	if err != nil {
		return err
	}
	mem := sql.OpenDB(connector)
	defer mem.Close()
	if _, err := mem.Exec("SET storage_compatibility_version = " + quote(version)); err != nil {
		return bad
	}
	return nil
}

// WithStorageVersion sets the storage version of a file that dbx creates:
// a DuckDB release ("v1.4.0", "v2.0.0") whose storage format the file is
// written in, or "latest" for this DuckDB's newest. DuckDB releases older
// than it cannot open the file. An existing file keeps the version it has,
// whatever this says: dbx never upgrades a file (DuckDB's setting
// storage_compatibility_version, which this sets on the write side,
// applies to new files only). Default [DefaultStorageVersion]. See
// [CheckStorageVersion].
func WithStorageVersion(version string) Option {
	return func(o *options) error {
		if err := CheckStorageVersion(version); err != nil {
			return err
		}
		o.storageVersion = version
		return nil
	}
}

// StorageVersionOf returns the storage version of a file created for
// release (a DuckDB release or "latest"), as DuckDB names it without its
// "+": the newest storage version dbx names that is not newer than the
// release ("v1.1.0" gives "v1.0.0"), and OldestStorageVersion for an
// older release ("v0.10.2": DuckDB writes no older one).
func StorageVersionOf(release string) string {
	if release == "latest" {
		return LatestStorageVersion
	}
	best := ""
	for _, name := range storageVersions {
		if !StorageVersionLess(release, name) && (best == "" || StorageVersionLess(best, name)) {
			best = name
		}
	}
	return cmp.Or(best, OldestStorageVersion)
}

// StorageVersionLess reports whether DuckDB release or storage version a,
// such as "v1.4.0" or "v1.4.0+", is older than b.
func StorageVersionLess(a, b string) bool {
	parse := func(v string) (out [3]int) {
		for i, part := range strings.SplitN(strings.Trim(v, "v+"), ".", 3) {
			out[i], _ = strconv.Atoi(part)
		}
		return out
	}
	ra, rb := parse(a), parse(b)
	return slices.Compare(ra[:], rb[:]) < 0
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
	return fmt.Sprintf("dbx: %s is in storage version %d, from a DuckDB newer than this program's, which reads storage versions %d to %d (%s to %s): "+
		"open it with a build of this program on a newer DuckDB, or have that DuckDB copy it into a version this one reads "+
		"(duckdb -c \"ATTACH %s AS src (READ_ONLY); ATTACH 'copy.duckdb' AS copy (STORAGE_VERSION '%s'); COPY FROM DATABASE src TO copy\")",
		e.Path, e.Found, e.Min, e.Max, storageVersionName(e.Min), storageVersionName(e.Max), quote(e.Path), storageVersionName(e.Max))
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
