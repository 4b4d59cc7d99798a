// Package archive writes scenarios into export folders and reads them
// back, so that a scenario moves between databases byte for byte.
//
// An export folder holds one folder per scenario, named after the scenario
// ("diabetes-cohort"; "-2", "-3" … when names clash), each holding two files
// in one format: JSON Lines (jsonl), CSV (csv) or Parquet (parquet).
//
//	scenarios.FORMAT  one row: id, name, description, tags, created_at, updated_at
//	entities.FORMAT   one row per entity: entity_type, entity_id, entity_data
//
// entity_data is the entity's JSON exactly as saved. In JSON Lines it is
// the entity object itself, or, when that could not keep its bytes (JSON
// with line breaks or other insignificant whitespace), a string in
// entity_data_text instead. In CSV and Parquet it is text. tags is a JSON
// array in JSON Lines and CSV and a list of strings in Parquet; times are
// UTC, RFC 3339 with microseconds in text formats.
//
// JSON Lines and CSV are written and read in Go. Parquet goes through a
// private in-memory DuckDB instance opened only by the Writer or Reader that
// needs it, never attached to any database file: rows are appended through
// its Appender and written with COPY … TO, and read back with read_parquet.
// The read pool of a dbx database cannot do it (its external access is off
// by design).
package archive

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Format is a file format of an export folder.
type Format string

// The formats.
const (
	JSONL   Format = "jsonl"
	CSV     Format = "csv"
	Parquet Format = "parquet"
)

// Formats returns every format.
func Formats() []Format { return []Format{JSONL, CSV, Parquet} }

// ParseFormat returns the format named s (any case).
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if slices.Contains(Formats(), f) {
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q: use jsonl, csv or parquet", s)
}

// File names in a scenario folder, without the format's extension.
const (
	ScenariosFile = "scenarios"
	EntitiesFile  = "entities"
)

func fileName(base string, f Format) string { return base + "." + string(f) }

// Folder is one scenario's folder in an export folder.
type Folder struct {
	Path   string
	Format Format
}

// List returns the scenario folders of the export folder dir, in name
// order, with their format. If dir is a scenario folder itself, it is the
// only one. format "" detects each folder's format; a folder that holds
// files of two formats is an error then. Other folders and files are
// ignored.
func List(dir string, format Format) ([]Folder, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("archive: %s is not a folder", dir)
	}
	if f, ok, err := detect(dir, format); err != nil || ok {
		return []Folder{{Path: dir, Format: f}}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	var out []Folder
	for _, e := range entries { // ReadDir sorts by name
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, ok, err := detect(path, format)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, Folder{Path: path, Format: f})
		}
	}
	return out, nil
}

// detect tells whether dir is a scenario folder (a scenarios file is
// there) and in which format.
func detect(dir string, want Format) (Format, bool, error) {
	var found []Format
	for _, f := range Formats() {
		if want != "" && f != want {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, fileName(ScenariosFile, f))); err == nil {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return "", false, nil
	case 1:
		return found[0], true, nil
	}
	return "", false, fmt.Errorf("archive: %s holds a scenario in several formats (%v): choose one with a format", dir, found)
}

// guard refuses paths that are one of the files it protects (the database
// and its companions): writing there would destroy them, and even opening
// and closing one drops this process's locks on the database.
type guard []os.FileInfo

func newGuard(paths []string) guard {
	var g guard
	for _, p := range paths {
		if info, err := os.Stat(p); err == nil {
			g = append(g, info)
		}
	}
	return g
}

var errProtected = errors.New("archive: refusing to touch the database's own files")

func (g guard) check(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return nil // does not exist: cannot be one of them
	}
	for _, p := range g {
		if os.SameFile(info, p) {
			return fmt.Errorf("%w: %s", errProtected, path)
		}
	}
	return nil
}

// slug makes a folder name from a scenario name: letters, digits, '.', '_'
// and '-' kept (lowercased), every other run of characters a '-', at most
// 64 bytes.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		if !ok {
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		b.WriteRune(r)
		dash = false
		if b.Len() >= 64 {
			break
		}
	}
	s := strings.Trim(b.String(), "-.")
	if s == "" {
		return "scenario"
	}
	return s
}
