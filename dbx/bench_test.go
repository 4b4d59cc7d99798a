package dbx_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/jmoiron/sqlx"
)

// Benchmark files: largeMB is the size dbx's first measurements were taken on.
const (
	largeMB   = 1400
	smallMB   = 8
	pointRows = 1_000_000 // rows of t in the large file
)

const pointQuery = "SELECT name, val FROM t WHERE id = ?"

var benchFiles struct {
	sync.Mutex
	paths map[int]string
}

// benchFile returns a DuckDB file of about sizeMB megabytes in $DBX_BENCH_DIR
// (default: os.TempDir()/dbx-bench), building it on first use. It holds
// t(id BIGINT PRIMARY KEY, name, val) with up to 1M rows for point reads,
// an empty log table for inserts, and a filler table wide. Only benchmarks
// call it; the file is reused across runs.
func benchFile(b *testing.B, sizeMB int) string {
	b.Helper()
	if testing.Short() && sizeMB > 100 {
		b.Skipf("-short: not using a %d MB file", sizeMB)
	}
	benchFiles.Lock()
	defer benchFiles.Unlock()
	if p, ok := benchFiles.paths[sizeMB]; ok {
		b.Logf("using %s (%d bytes)", p, fileSize(b, p))
		return p
	}
	dir := os.Getenv("DBX_BENCH_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "dbx-bench")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-%dmb.duckdb", sizeMB))
	if info, err := os.Stat(path); err == nil {
		b.Logf("using %s (%d bytes), built earlier", path, info.Size())
	} else {
		start := time.Now()
		if err := benchfile.PointReads(context.Background(), path, int64(sizeMB)*1e6, int64(min(pointRows, sizeMB*10_000))); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %s (%d bytes) in %v", path, fileSize(b, path), time.Since(start).Round(time.Millisecond))
	}
	if benchFiles.paths == nil {
		benchFiles.paths = map[int]string{}
	}
	benchFiles.paths[sizeMB] = path
	return path
}

// fileSize stats the file; it never opens it (that would drop our locks).
func fileSize(b *testing.B, path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return info.Size()
}

// pointRead reads one row of t; i picks a scattered id.
func pointRead(ctx context.Context, pool *sql.DB, i int, rows int) error {
	var name string
	var val float64
	return pool.QueryRowContext(ctx, pointQuery, 1+(i*7919)%rows).Scan(&name, &val)
}

// pointReads times pointRead on pool, after one untimed call that opens
// the file and warms it.
func pointReads(b *testing.B, ctx context.Context, pool *sql.DB) {
	if err := pointRead(ctx, pool, 0, pointRows); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		if err := pointRead(ctx, pool, i, pointRows); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkPointRead compares a point query on a kept-open read-only
// duckdb-go pool with the same query through dbx's read pool, same file.
// raw runs first and is closed before dbx opens the file.
func BenchmarkPointRead(b *testing.B) {
	ctx := context.Background()
	// benchFile is called in the sub-benchmarks: without -v, only their logs show.
	b.Run("raw", func(b *testing.B) {
		pool, err := sql.Open("duckdb", benchFile(b, largeMB)+"?access_mode=READ_ONLY")
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close() // closes the connector too, so the instance goes
		pointReads(b, ctx, pool)
	})
	b.Run("dbx", func(b *testing.B) {
		db, err := dbx.Open(ctx, benchFile(b, largeMB))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		pointReads(b, ctx, db.Read().DB)
	})
}

// BenchmarkWriteWindow times a one-row write window followed by a point
// read, which pays for the read side reattaching the file.
func BenchmarkWriteWindow(b *testing.B) {
	for _, size := range []int{largeMB, smallMB} {
		b.Run(fmt.Sprintf("%dMB", size), func(b *testing.B) {
			path := benchFile(b, size)
			ctx := context.Background()
			db, err := dbx.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			rows := min(pointRows, size*10_000)
			window := func(i int) error {
				if err := db.Write(ctx, func(tx *sqlx.Tx) error {
					_, err := tx.Exec("INSERT INTO log VALUES (?, now(), 'bench')", i)
					return err
				}); err != nil {
					return err
				}
				return pointRead(ctx, db.Read().DB, i, rows)
			}
			reportWindows(b, window)
		})
	}
}

// BenchmarkWriteWindowInstancePerMode is the naive baseline: a DuckDB
// instance opened read-write for the insert, closed, then one opened
// read-only for the read, closed.
func BenchmarkWriteWindowInstancePerMode(b *testing.B) {
	path := benchFile(b, largeMB)
	ctx := context.Background()
	window := func(i int) error {
		connector, err := duckdb.NewConnector(path, nil)
		if err != nil {
			return err
		}
		rw := sql.OpenDB(connector)
		tx, err := rw.BeginTx(ctx, nil)
		if err == nil {
			if _, err = tx.Exec("INSERT INTO log VALUES (?, now(), 'bench')", i); err != nil {
				tx.Rollback()
			} else {
				err = tx.Commit()
			}
		}
		if err := errors.Join(err, rw.Close()); err != nil { // Close checkpoints
			return err
		}
		ro, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
		if err != nil {
			return err
		}
		return errors.Join(pointRead(ctx, ro, i, pointRows), ro.Close())
	}
	reportWindows(b, window)
}

// reportWindows runs window once to warm up, then once per iteration,
// and reports the p50 and p99 of the iterations.
func reportWindows(b *testing.B, window func(i int) error) {
	if err := window(0); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := window(len(times) + 1); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.ReportMetric(float64(latency.Percentile(times, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latency.Percentile(times, 99).Microseconds())/1000, "p99-ms")
}

// BenchmarkRoutedPointRead compares a point query through the routed
// *sql.DB (dbx.OpenDB) with the same query on db.Read() and on a raw
// kept-open read-only duckdb-go pool, same file. Each opens and warms its
// own pool and closes it before the next; run with -count to alternate.
func BenchmarkRoutedPointRead(b *testing.B) {
	ctx := context.Background()
	b.Run("raw", func(b *testing.B) {
		pool, err := sql.Open("duckdb", benchFile(b, largeMB)+"?access_mode=READ_ONLY")
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		pointReads(b, ctx, pool)
	})
	b.Run("read", func(b *testing.B) {
		db, err := dbx.Open(ctx, benchFile(b, largeMB))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		pointReads(b, ctx, db.Read().DB)
	})
	b.Run("routed", func(b *testing.B) {
		pool, err := dbx.OpenDB(benchFile(b, largeMB))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		pointReads(b, ctx, pool)
	})
}

// BenchmarkRoutedInsert compares an autocommit INSERT through the routed
// *sql.DB, one write window each, with the same INSERT in db.Write.
func BenchmarkRoutedInsert(b *testing.B) {
	ctx := context.Background()
	const insert = "INSERT INTO log VALUES (?, now(), 'bench')"
	b.Run("write", func(b *testing.B) {
		db, err := dbx.Open(ctx, benchFile(b, largeMB))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		reportWindows(b, func(i int) error {
			return db.Write(ctx, func(tx *sqlx.Tx) error {
				_, err := tx.ExecContext(ctx, insert, i)
				return err
			})
		})
	})
	b.Run("routed", func(b *testing.B) {
		pool, err := dbx.OpenDB(benchFile(b, largeMB))
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		reportWindows(b, func(i int) error {
			_, err := pool.ExecContext(ctx, insert, i)
			return err
		})
	})
}
