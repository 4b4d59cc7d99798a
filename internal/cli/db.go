// Package cli is what the HealthSim command-line programs share: the
// healthsim binary and the maintenance scripts under scripts/. It holds the
// database flags and where the database is found, the flag and exit-code
// conventions of the scripts, and progress lines for long work.
package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
)

// EnvDBPath names the environment variable that gives the database path
// when --db is not set.
const EnvDBPath = "HEALTHSIM_DB_PATH"

// DefaultBusyTimeout is the default of --busy-timeout.
const DefaultBusyTimeout = 5 * time.Second

// EnvStorageVersion names the environment variable that gives the
// storage version of a new database when --storage-version is not set.
const EnvStorageVersion = "HEALTHSIM_STORAGE_VERSION"

// DB holds the flags of every program that opens the HealthSim database:
// --db, --busy-timeout and --storage-version. Register them on a flag
// set, parse, then Resolve or Open.
type DB struct {
	Path           string        // --db; empty: $HEALTHSIM_DB_PATH, else the per-user default
	BusyTimeout    time.Duration // --busy-timeout
	StorageVersion string        // --storage-version; empty: $HEALTHSIM_STORAGE_VERSION, else the default (see Storage)
}

// Register defines --db, --busy-timeout and --storage-version on fs.
func (d *DB) Register(fs *flag.FlagSet) {
	fs.StringVar(&d.Path, "db", "", "database file (default $"+EnvDBPath+", else "+DefaultPathHelp+")")
	fs.DurationVar(&d.BusyTimeout, "busy-timeout", DefaultBusyTimeout, "how long each wait for the file lasts: while another process holds it, or a write of this one runs")
	fs.StringVar(&d.StorageVersion, "storage-version", "", "the DuckDB storage version of a database file this creates: "+
		dbx.DefaultStorageVersion+" opens in DuckDB 1.4 and later, v2.0.0 (or latest) only in DuckDB 2.0 and later; an existing file keeps its own (default $"+EnvStorageVersion+", else "+dbx.DefaultStorageVersion+")")
}

// Storage returns the storage version of --storage-version, else
// $HEALTHSIM_STORAGE_VERSION, else dbx.DefaultStorageVersion, or an error
// that names where a version dbx does not take came from.
func (d *DB) Storage() (string, error) {
	version, from := d.StorageVersion, "--storage-version"
	if version == "" {
		version, from = os.Getenv(EnvStorageVersion), "$"+EnvStorageVersion
	}
	if version == "" {
		return dbx.DefaultStorageVersion, nil
	}
	if err := dbx.CheckStorageVersion(version); err != nil {
		return "", fmt.Errorf("%s: %w", from, err)
	}
	return version, nil
}

// Options returns the dbx options of the flags, logging to logger.
func (d *DB) Options(logger *slog.Logger) ([]dbx.Option, error) {
	version, err := d.Storage()
	if err != nil {
		return nil, err
	}
	return []dbx.Option{dbx.WithBusyTimeout(d.BusyTimeout), dbx.WithStorageVersion(version), dbx.WithLogger(logger)}, nil
}

// Resolve returns the database path; see [ResolvePath]. It creates nothing.
func (d *DB) Resolve() (string, error) { return ResolvePath(d.Path) }

// DefaultPathHelp says where the database is when neither --db nor
// $HEALTHSIM_DB_PATH is set, on this system (see [DefaultPath]).
var DefaultPathHelp = func() string {
	switch runtime.GOOS {
	case "darwin":
		return "~/Library/Application Support/healthsim/healthsim.duckdb"
	case "windows":
		return `%LOCALAPPDATA%\healthsim\healthsim.duckdb`
	}
	return "$XDG_DATA_HOME/healthsim/healthsim.duckdb"
}()

// ResolvePath returns the database path: flagPath if set, else
// $HEALTHSIM_DB_PATH, else [DefaultPath]. It creates nothing (see
// [MakeFolder]). A path of spaces only, in either, is refused: it names no
// file a person means.
func ResolvePath(flagPath string) (string, error) {
	if flagPath != "" && strings.TrimSpace(flagPath) == "" {
		return "", fmt.Errorf("--db is blank (%q): give the database file's path, or leave --db out", flagPath)
	}
	path := flagPath
	if path == "" {
		path = os.Getenv(EnvDBPath)
		if path != "" && strings.TrimSpace(path) == "" {
			return "", fmt.Errorf("$%s is blank (%q): set it to the database file's path, or unset it", EnvDBPath, path)
		}
	}
	if path == "" {
		var err error
		if path, err = DefaultPath(runtime.GOOS, os.Getenv, os.UserHomeDir); err != nil {
			return "", err
		}
	}
	return path, nil
}

// MakeFolder creates the folder of a local database file when needed.
// Only programs that create the database call it.
func MakeFolder(path string) error {
	if !dbx.IsLocalFile(path) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create the folder for the database %s: %w", path, err)
	}
	return nil
}

// DefaultPath returns where the per-user database lives on system goos,
// after each system's convention for application data:
// ~/Library/Application Support/healthsim/ on macOS,
// %LOCALAPPDATA%\healthsim\ on Windows, and $XDG_DATA_HOME/healthsim/
// (XDG_DATA_HOME defaulting to ~/.local/share) elsewhere. The file is
// healthsim.duckdb.
func DefaultPath(goos string, getenv func(string) string, home func() (string, error)) (string, error) {
	join := filepath.Join
	if goos == "windows" {
		join = windowsJoin
	}
	// dataDir is $env if set, else the folder under the home folder.
	dataDir := func(env string, underHome ...string) (string, error) {
		if dir := getenv(env); env != "" && dir != "" {
			return dir, nil
		}
		h, err := home()
		if err != nil {
			return "", fmt.Errorf("no --db given and no home folder: %w", err)
		}
		return join(append([]string{h}, underHome...)...), nil
	}
	var dir string
	var err error
	switch goos {
	case "darwin":
		dir, err = dataDir("", "Library", "Application Support")
	case "windows":
		dir, err = dataDir("LOCALAPPDATA", "AppData", "Local")
	default:
		dir, err = dataDir("XDG_DATA_HOME", ".local", "share")
	}
	if err != nil {
		return "", err
	}
	return join(dir, "healthsim", "healthsim.duckdb"), nil
}

// windowsJoin joins path elements with backslashes, so that DefaultPath
// gives Windows paths on any system (its tests run everywhere).
func windowsJoin(elem ...string) string {
	return strings.Join(elem, `\`)
}

// Open opens the database with the flags' busy timeout, creating the file
// and its folder if they do not exist: for programs that write. dbx logs
// to logger.
func (d *DB) Open(ctx context.Context, logger *slog.Logger) (*dbx.DB, error) {
	path, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	opts, err := d.Options(logger)
	if err != nil {
		return nil, err
	}
	if err := refuseOtherFile(ctx, path); err != nil {
		return nil, err
	}
	if err := MakeFolder(path); err != nil {
		return nil, err
	}
	return dbx.Open(ctx, path, opts...)
}

// ErrNoDatabase is returned (wrapped) by [DB.OpenExisting] and
// [DB.ResolveExisting] when there is no database file at the path.
var ErrNoDatabase = errors.New("no database")

// ResolveExisting is Resolve for programs that only read or change an
// existing database: it fails with [ErrNoDatabase], creating nothing, when
// the local file does not exist.
func (d *DB) ResolveExisting() (string, error) {
	path, err := d.Resolve()
	if err != nil {
		return "", err
	}
	if err := requireFile(path); err != nil {
		return "", err
	}
	return path, nil
}

// requireFile fails with [ErrNoDatabase] when path is a local file that
// does not exist; it creates nothing.
func requireFile(path string) error {
	if !dbx.IsLocalFile(path) {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w at %s: check --db or $%s (create one with `healthsim migrate up --db %s`)", ErrNoDatabase, path, EnvDBPath, path)
	}
	return nil
}

// OpenExisting is Open for programs that have nothing to do on a new
// database: it fails with [ErrNoDatabase], creating nothing (no file, no
// sidecar, no folder), when the file does not exist.
func (d *DB) OpenExisting(ctx context.Context, logger *slog.Logger) (*dbx.DB, error) {
	path, err := d.ResolveExisting()
	if err != nil {
		return nil, err
	}
	opts, err := d.Options(logger)
	if err != nil {
		return nil, err
	}
	if err := refuseOtherFile(ctx, path); err != nil {
		return nil, err
	}
	return dbx.Open(ctx, path, opts...)
}

// OpenMigrated is OpenExisting for programs that read or change scenarios:
// it also fails, with what to run, unless the schema is the newest this
// program knows (see RequireSchema).
func (d *DB) OpenMigrated(ctx context.Context, logger *slog.Logger) (*dbx.DB, error) {
	db, err := d.OpenExisting(ctx, logger)
	if err != nil {
		return nil, err
	}
	if err := RequireSchema(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// notDuckDB is what DuckDB says of an existing file that is not a DuckDB
// database (an empty one included).
const notDuckDB = "not a valid DuckDB database file"

// refuseOtherFile fails if path is an existing file that DuckDB will not
// open as a database (a text file, an empty one), before dbx creates its
// sidecars beside it. A throwaway in-memory DuckDB attaches it read-only
// and lets go at once: a program opens its database once, at its start,
// so this process holds no lock on the file yet and letting go drops
// none. Any other outcome (a missing file,
// one another program holds, one from a newer DuckDB) is left to the open
// to report.
func refuseOtherFile(ctx context.Context, path string) error {
	if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
		return nil
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil
	}
	probe := sql.OpenDB(connector)
	defer probe.Close()
	probe.SetMaxOpenConns(1)
	for _, stmt := range []string{
		"SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
		"ATTACH '" + strings.ReplaceAll(path, "'", "''") + "' AS probe (TYPE duckdb, READ_ONLY)",
	} {
		if _, err := probe.ExecContext(ctx, stmt); err != nil {
			if strings.Contains(err.Error(), notDuckDB) {
				return fmt.Errorf("%s is not a DuckDB database (DuckDB: %s); nothing was changed: check --db or $%s",
					path, notDuckDB, EnvDBPath)
			}
			return nil
		}
	}
	return nil
}
