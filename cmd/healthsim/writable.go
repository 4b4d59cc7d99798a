package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/healthsim/healthsim-go/dbx"
)

// writeProblem returns a sentence saying why this process cannot write the
// database at path, or nil if it can (or path is not a local file): the
// file and its WAL must be writable when they exist, and so must their
// folder, where DuckDB creates the WAL and dbx its sidecars. It asks the
// system for this user (canWrite), so it costs a few system calls and
// changes nothing.
func writeProblem(path string) error {
	if !dbx.IsLocalFile(path) {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil // dbx has reported it already
	}
	for _, file := range []string{abs, abs + ".wal"} {
		if _, err := os.Stat(file); err != nil {
			continue
		}
		if err := canWrite(file, false); err != nil {
			return fmt.Errorf("this server cannot write the database file %s (%v), so saves and deletes fail until it can: make it writable for this user (e.g. `chmod u+w %s`) or serve a copy", file, err, file)
		}
	}
	if dir := filepath.Dir(abs); canWrite(dir, true) != nil {
		return fmt.Errorf("this server cannot write in the folder %s of the database (%v), where DuckDB writes its .wal file, so saves and deletes fail until it can: make the folder writable for this user or move the database to one that is",
			dir, canWrite(dir, true))
	}
	return nil
}
