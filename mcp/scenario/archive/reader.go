package archive

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// Reader reads scenario folders. It is not safe for concurrent use. Close
// it when done.
type Reader struct {
	guard guard
	eng   *engine // started on first use: Parquet files
}

// NewReader returns a Reader that never opens the files protect names:
// give the database's path (and its WAL).
func NewReader(protect ...string) *Reader { return &Reader{guard: newGuard(protect)} }

// Read reads the scenario in folder f: its header and its entities in file
// order. The Record is not validated: see [scenario.ValidateRecord].
func (r *Reader) Read(ctx context.Context, f Folder) (*scenario.Record, error) {
	rec, err := r.readHeader(ctx, f)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(f.Path, fileName(EntitiesFile, f.Format))
	switch f.Format {
	case JSONL:
		rec.Entities, err = readGo(path, r.guard, readEntitiesJSONL)
	case CSV:
		rec.Entities, err = readGo(path, r.guard, readEntitiesCSV)
	case Parquet:
		if err = r.startEngine(ctx); err == nil {
			if err = r.guard.check(path); err == nil {
				rec.Entities, err = r.eng.readEntities(ctx, path)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("archive: read %s: %w", path, err)
	}
	if rec.Entities == nil {
		rec.Entities = []scenario.EntityRecord{}
	}
	return rec, nil
}

// readHeader reads the scenarios file of f: the Record without entities.
func (r *Reader) readHeader(ctx context.Context, f Folder) (*scenario.Record, error) {
	path := filepath.Join(f.Path, fileName(ScenariosFile, f.Format))
	var rec *scenario.Record
	var err error
	switch f.Format {
	case JSONL:
		rec, err = readGo(path, r.guard, readHeaderJSONL)
	case CSV:
		rec, err = readGo(path, r.guard, readHeaderCSV)
	case Parquet:
		if err = r.startEngine(ctx); err == nil {
			if err = r.guard.check(path); err == nil {
				rec, err = r.eng.readHeader(ctx, path)
			}
		}
	default:
		err = fmt.Errorf("unknown format %q", f.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: read %s: %w", path, err)
	}
	return rec, nil
}

func readGo[T any](path string, g guard, read func(io.Reader) (T, error)) (T, error) {
	f, err := openRead(path, g)
	if err != nil {
		var zero T
		return zero, err
	}
	defer f.Close()
	return read(f)
}

func (r *Reader) startEngine(ctx context.Context) error {
	if r.eng != nil {
		return nil
	}
	var err error
	r.eng, err = newEngine(ctx)
	return err
}

// Close releases the Parquet engine, if one was started.
func (r *Reader) Close() error { return r.eng.close() }
