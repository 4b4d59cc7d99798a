package archive

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// Writer writes scenarios into an export folder, in one format. It is not
// safe for concurrent use. Close it when done.
type Writer struct {
	dir    string
	format Format
	guard  guard
	eng    *engine           // started on first use: Parquet files
	folder map[string]string // scenario folder written by this Writer -> scenario name
}

// NewWriter returns a Writer of format into the export folder dir, which
// is created if needed. protect names files that must never be written nor
// read: give the database's path (and its WAL).
func NewWriter(dir string, format Format, protect ...string) (*Writer, error) {
	if _, err := ParseFormat(string(format)); err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("archive: create %s: %w", dir, err)
	}
	return &Writer{dir: dir, format: format, guard: newGuard(protect), folder: map[string]string{}}, nil
}

// Write writes rec into its scenario folder and returns the folder's path.
// The folder of the same scenario from an earlier export is written over
// (its files of other formats removed); a folder that holds another
// scenario is left alone and the new folder's name gets a suffix. Each file
// is written under a temporary name and renamed into place, so a failed
// write leaves no half-written file.
func (w *Writer) Write(ctx context.Context, rec *scenario.Record) (string, error) {
	dir, err := w.folderFor(ctx, rec.Name)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	header := filepath.Join(dir, fileName(ScenariosFile, w.format))
	entities := filepath.Join(dir, fileName(EntitiesFile, w.format))
	switch w.format {
	case JSONL:
		err = w.place(entities, goFile(func(f io.Writer) error { return writeEntitiesJSONL(f, rec) }))
		if err == nil {
			err = w.place(header, goFile(func(f io.Writer) error { return writeHeaderJSONL(f, rec) }))
		}
	case CSV:
		err = w.place(entities, goFile(func(f io.Writer) error { return writeEntitiesCSV(f, rec) }))
		if err == nil {
			err = w.place(header, goFile(func(f io.Writer) error { return writeHeaderCSV(f, rec) }))
		}
	case Parquet:
		if err = w.startEngine(ctx); err == nil {
			err = w.place(entities, func(tmp string) error { return w.eng.writeEntities(ctx, tmp, rec) })
		}
		if err == nil {
			err = w.place(header, func(tmp string) error { return w.eng.writeHeader(ctx, tmp, rec) })
		}
	}
	if err != nil {
		return "", fmt.Errorf("archive: write scenario %q into %s: %w", rec.Name, dir, err)
	}
	w.folder[dir] = rec.Name
	for _, f := range Formats() { // one format per folder: import must not find two
		if f != w.format {
			for _, base := range []string{ScenariosFile, EntitiesFile} {
				if path := filepath.Join(dir, fileName(base, f)); w.guard.check(path) == nil {
					os.Remove(path)
				}
			}
		}
	}
	return dir, nil
}

// folderFor picks the folder for the scenario called name: its slug, or
// the slug with "-2", "-3" … when that folder holds another scenario.
func (w *Writer) folderFor(ctx context.Context, name string) (string, error) {
	base := slug(name)
	for i := 1; ; i++ {
		dir := filepath.Join(w.dir, base)
		if i > 1 {
			dir = fmt.Sprintf("%s-%d", dir, i)
		}
		if written, ok := w.folder[dir]; ok {
			if written == name {
				return dir, nil
			}
			continue
		}
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) || err == nil && len(entries) == 0 {
			return dir, nil
		}
		if err != nil {
			continue // a file, or unreadable: not ours to write into
		}
		same, err := w.holds(ctx, dir, name)
		if err != nil {
			return "", err
		}
		if same {
			return dir, nil
		}
	}
}

// holds reports whether the folder dir holds the scenario called name, in
// any format.
func (w *Writer) holds(ctx context.Context, dir, name string) (bool, error) {
	r := Reader{guard: w.guard}
	for _, f := range Formats() {
		if _, err := os.Stat(filepath.Join(dir, fileName(ScenariosFile, f))); err != nil {
			continue
		}
		if f == Parquet {
			if err := w.startEngine(ctx); err != nil {
				return false, err
			}
			r.eng = w.eng
		}
		if rec, err := r.readHeader(ctx, Folder{Path: dir, Format: f}); err == nil && rec.Name == name {
			return true, nil
		}
	}
	return false, nil
}

func (w *Writer) startEngine(ctx context.Context) error {
	if w.eng != nil {
		return nil
	}
	var err error
	w.eng, err = newEngine(ctx)
	return err
}

// place writes the file final through write, which gets a temporary path
// next to it, then renames it into place.
func (w *Writer) place(final string, write func(tmp string) error) error {
	tmp := final + ".partial"
	if err := errors.Join(w.guard.check(final), w.guard.check(tmp)); err != nil {
		return err
	}
	os.Remove(tmp)
	if err := write(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, final)
}

// goFile returns a write function for place that writes the file in Go.
func goFile(fill func(io.Writer) error) func(tmp string) error {
	return func(tmp string) error {
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(f, 1<<16)
		if err := fill(bw); err != nil {
			f.Close()
			return err
		}
		return errors.Join(bw.Flush(), f.Close())
	}
}

// Close releases the Parquet engine, if one was started.
func (w *Writer) Close() error { return w.eng.close() }
