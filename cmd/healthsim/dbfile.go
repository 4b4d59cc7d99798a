package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

// duckDBMagic is what every DuckDB database file holds at duckDBMagicAt,
// after the header's checksum.
const (
	duckDBMagic   = "DUCK"
	duckDBMagicAt = 8
)

// requireDuckDBFile fails, creating nothing, when path is a local file that
// exists but is not a DuckDB database: a --db that names some other file.
// Opening it, dbx would first create its sidecars beside it, and only then
// would DuckDB refuse it. A missing file, a folder or a file it cannot read
// passes: opening it says what is wrong.
//
// It reads the file's first bytes, so it must run before this process
// opens the database: closing a descriptor of a file drops the process's
// DuckDB locks on it (see dbx). The commands call it first thing.
func requireDuckDBFile(path string) error {
	if !dbx.IsLocalFile(path) {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil
	}
	head := make([]byte, duckDBMagicAt+len(duckDBMagic))
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	if n == len(head) && string(head[duckDBMagicAt:]) == duckDBMagic {
		return nil
	}
	return fmt.Errorf("%s is not a DuckDB database (a file of %s without DuckDB's header); nothing was changed: check --db or $%s",
		path, cli.Bytes(info.Size()), cli.EnvDBPath)
}

// requireDuckDBAt is requireDuckDBFile for the database that the flags
// name.
func requireDuckDBAt(d *cli.DB) error {
	path, err := d.Resolve()
	if err != nil {
		return err
	}
	return requireDuckDBFile(path)
}
