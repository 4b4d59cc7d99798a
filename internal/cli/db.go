// Package cli is what the HealthSim command-line programs share: the
// healthsim binary and the maintenance scripts under scripts/. It holds the
// database flags and where the database is found, the flag and exit-code
// conventions of the scripts, and progress lines for long work.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
)

// EnvDBPath names the environment variable that gives the database path
// when --db is not set.
const EnvDBPath = "HEALTHSIM_DB_PATH"

// DefaultBusyTimeout is the default of --busy-timeout.
const DefaultBusyTimeout = 5 * time.Second

// DB holds the flags of every program that opens the HealthSim database:
// --db and --busy-timeout. Register them on a flag set, parse, then Resolve
// or Open.
type DB struct {
	Path        string        // --db; empty: $HEALTHSIM_DB_PATH, else the per-user default
	BusyTimeout time.Duration // --busy-timeout
}

// Register defines --db and --busy-timeout on fs.
func (d *DB) Register(fs *flag.FlagSet) {
	fs.StringVar(&d.Path, "db", "", "database file (default $"+EnvDBPath+", else $XDG_DATA_HOME/healthsim/healthsim.duckdb)")
	fs.DurationVar(&d.BusyTimeout, "busy-timeout", DefaultBusyTimeout, "how long to wait while another process holds the file")
}

// Resolve returns the database path; see [ResolvePath].
func (d *DB) Resolve() (string, error) { return ResolvePath(d.Path) }

// ResolvePath returns the database path: flagPath if set, else
// $HEALTHSIM_DB_PATH, else $XDG_DATA_HOME/healthsim/healthsim.duckdb
// (XDG_DATA_HOME defaulting to ~/.local/share). The folder of a local file
// is created when needed.
func ResolvePath(flagPath string) (string, error) {
	path := flagPath
	if path == "" {
		path = os.Getenv(EnvDBPath)
	}
	if path == "" {
		dataHome := os.Getenv("XDG_DATA_HOME")
		if dataHome == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no --db given and no home folder: %w", err)
			}
			dataHome = filepath.Join(home, ".local", "share")
		}
		path = filepath.Join(dataHome, "healthsim", "healthsim.duckdb")
	}
	if dbx.IsLocalFile(path) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("cannot create the folder for the database %s: %w", path, err)
		}
	}
	return path, nil
}

// Open opens the database with the flags' busy timeout, creating the file
// if it does not exist. dbx logs to logger.
func (d *DB) Open(ctx context.Context, logger *slog.Logger) (*dbx.DB, error) {
	path, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	return dbx.Open(ctx, path, dbx.WithBusyTimeout(d.BusyTimeout), dbx.WithLogger(logger))
}

// ErrNoDatabase is returned (wrapped) by OpenExisting when there is no
// database file at the path.
var ErrNoDatabase = errors.New("no database")

// OpenExisting is Open for programs that have nothing to do on a new
// database: it fails, creating nothing, when the file does not exist.
func (d *DB) OpenExisting(ctx context.Context, logger *slog.Logger) (*dbx.DB, error) {
	path, err := d.Resolve()
	if err != nil {
		return nil, err
	}
	if dbx.IsLocalFile(path) {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w at %s: give --db or set $%s", ErrNoDatabase, path, EnvDBPath)
		}
	}
	return dbx.Open(ctx, path, dbx.WithBusyTimeout(d.BusyTimeout), dbx.WithLogger(logger))
}
