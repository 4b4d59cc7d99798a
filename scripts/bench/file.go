package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
)

// rowsFor is the number of rows of t, the table of point reads, in a file
// of sizeMB megabytes: 10,000 per MB, at most a million (as dbx's
// benchmarks do).
func rowsFor(sizeMB int) int64 { return int64(min(1_000_000, max(1, sizeMB)*10_000)) }

// benchFile returns the path of a DuckDB file of about sizeMB megabytes
// in dir, building it if it is not there yet. It holds t(id BIGINT
// PRIMARY KEY, name, val) for point reads, an empty table log for inserts
// and a filler table wide, in the same layout as dbx's benchmark files.
func benchFile(ctx context.Context, dir string, sizeMB int, log io.Writer) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%dmb.duckdb", sizeMB))
	if info, err := os.Stat(path); err == nil {
		fmt.Fprintf(log, "using %s (%d MB)\n", path, info.Size()/1e6)
		return path, nil
	}
	fmt.Fprintf(log, "building %s (about %d MB, once)…\n", path, sizeMB)
	start := time.Now()
	if err := benchfile.PointReads(ctx, path, int64(sizeMB)*1e6, rowsFor(sizeMB)); err != nil {
		return "", fmt.Errorf("build %s: %w", path, err)
	}
	fmt.Fprintf(log, "built %s in %v\n", path, time.Since(start).Round(time.Second))
	return path, nil
}
