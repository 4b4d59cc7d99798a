package dbx_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
)

// The engine benchmarks below compare DuckDB versions: build this package's
// test binary once per duckdb-go version and run the binaries in turn
// (docs/benchmarks.md, "DuckDB 2.0 against 1.5.6"). Besides the files of
// bench_test.go they read $DBX_BENCH_BIG if it is set: a file with a table
// big(id, a) of 45M rows, a = id*7, no index, such as the one
// BenchmarkReadCallPeers (cmd/healthsim) builds. They never write to it:
// the read-write ATTACH uses a copy.

// bigRows is the row count of $DBX_BENCH_BIG's table big.
const bigRows = 45_000_000

// engineFile is a file the engine benchmarks read, and its point query.
type engineFile struct {
	name  string
	path  func(b *testing.B) string
	query string // one ? for the id
	rows  int
	check func(id int64, v any) bool // nil: any answer
}

func engineFiles() []engineFile {
	files := []engineFile{
		{name: fmt.Sprintf("%dMB", smallMB), path: func(b *testing.B) string { return benchFile(b, smallMB) },
			query: pointQuery, rows: smallMB * 10_000},
		{name: fmt.Sprintf("%dMB", largeMB), path: func(b *testing.B) string { return benchFile(b, largeMB) },
			query: pointQuery, rows: pointRows},
	}
	return append(files, engineFile{name: "big45M", path: bigFile, query: "SELECT a FROM big WHERE id = ?", rows: bigRows,
		check: func(id int64, v any) bool { n, ok := v.(int64); return ok && n == id*7 }})
}

// bigFile returns $DBX_BENCH_BIG, or skips.
func bigFile(b *testing.B) string {
	path := os.Getenv("DBX_BENCH_BIG")
	if path == "" {
		b.Skip("$DBX_BENCH_BIG is not set")
	}
	if _, err := os.Stat(path); err != nil {
		b.Fatal(err)
	}
	return path
}

// engineSettings are the DuckDB settings the point queries run with, as
// DSN options; a setting the engine does not know skips the case.
var engineSettings = []struct{ name, dsn string }{
	{"default", ""},
	{"threads1", "threads=1"},
}

// scatter returns the id of the i-th query: spread over 1..rows.
func scatter(i, rows int) int64 { return 1 + int64(i)*7919*1009%int64(rows) }

// BenchmarkEnginePointQuery times a point query with a new id on each call:
//
//	raw       a kept-open read-only duckdb-go pool, QueryRow with an argument
//	          (duckdb-go prepares, binds and runs the statement each time)
//	prepared  the same pool, one prepared statement reused: no parse
//	prepared-literal  the same with the id a literal, one statement reused
//	dbx       the query through db.Read() (default settings only)
//
// and, on the raw pool, SELECT 1, new each call and prepared once: what
// any statement costs.
func BenchmarkEnginePointQuery(b *testing.B) {
	ctx := context.Background()
	for _, f := range engineFiles() {
		for _, s := range engineSettings {
			b.Run(f.name+"/"+s.name, func(b *testing.B) {
				path := f.path(b)
				dsn := path + "?access_mode=READ_ONLY"
				if s.dsn != "" {
					dsn += "&" + s.dsn
				}
				pool, err := sql.Open("duckdb", dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				if err := pool.PingContext(ctx); err != nil {
					if strings.Contains(err.Error(), "unrecognized configuration") {
						b.Skip(err)
					}
					b.Fatal(err)
				}
				pool.SetMaxOpenConns(1)
				b.Run("raw", func(b *testing.B) {
					timedQueries(b, f, func(id int64) (any, error) {
						return firstValue(pool.QueryContext(ctx, f.query, id))
					})
				})
				b.Run("prepared", func(b *testing.B) {
					stmt, err := pool.PrepareContext(ctx, f.query)
					if err != nil {
						b.Fatal(err)
					}
					defer stmt.Close()
					timedQueries(b, f, func(id int64) (any, error) {
						return firstValue(stmt.QueryContext(ctx, id))
					})
				})
				// The same statement with the id as a literal, prepared once:
				// no parameter left for DuckDB to bind at execution.
				b.Run("prepared-literal", func(b *testing.B) {
					stmt, err := pool.PrepareContext(ctx, strings.Replace(f.query, "?", fmt.Sprint(scatter(7, f.rows)), 1))
					if err != nil {
						b.Fatal(err)
					}
					defer stmt.Close()
					timedQueries(b, engineFile{rows: 1}, func(int64) (any, error) {
						return firstValue(stmt.QueryContext(ctx))
					})
				})
				b.Run("prepared-select1", func(b *testing.B) {
					stmt, err := pool.PrepareContext(ctx, "SELECT 1")
					if err != nil {
						b.Fatal(err)
					}
					defer stmt.Close()
					timedQueries(b, engineFile{rows: 1}, func(int64) (any, error) {
						return firstValue(stmt.QueryContext(ctx))
					})
				})
				b.Run("select1", func(b *testing.B) {
					timedQueries(b, engineFile{rows: 1}, func(int64) (v any, err error) {
						return v, pool.QueryRowContext(ctx, "SELECT 1").Scan(&v)
					})
				})
			})
		}
		b.Run(f.name+"/default/dbx", func(b *testing.B) {
			db, err := dbx.Open(ctx, f.path(b))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			timedQueries(b, f, func(id int64) (any, error) {
				return firstValue(db.Read().QueryContext(ctx, f.query, id))
			})
		})
	}
}

// timedQueries runs query 50 times untimed, then once per iteration, and
// reports the p50 and p90 in µs.
func timedQueries(b *testing.B, f engineFile, query func(id int64) (any, error)) {
	run := func(i int) {
		id := scatter(i, f.rows)
		v, err := query(id)
		if err != nil {
			b.Fatal(err)
		}
		if f.check != nil && !f.check(id, v) {
			b.Fatalf("id %d: got %v", id, v)
		}
	}
	for i := range 50 {
		run(i)
	}
	var times []time.Duration
	for b.Loop() {
		start := time.Now()
		run(len(times) + 50)
		times = append(times, time.Since(start))
	}
	b.ReportMetric(float64(latency.Percentile(times, 50).Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(latency.Percentile(times, 90).Nanoseconds())/1e3, "p90-µs")
}

// BenchmarkEngineAttach times what dbx does to open and let go of a file,
// on a kept in-memory instance: ATTACH (READ_ONLY, or read-write), the
// first point query, DETACH; each reported as its p50 in ms. The
// read-write case of $DBX_BENCH_BIG attaches a copy made once per run.
func BenchmarkEngineAttach(b *testing.B) {
	ctx := context.Background()
	for _, f := range engineFiles()[1:] {
		for _, mode := range []string{"read-only", "read-write"} {
			b.Run(f.name+"/"+mode, func(b *testing.B) {
				path := f.path(b)
				opts := " (READ_ONLY)"
				if mode == "read-write" {
					opts = ""
					if f.name == "big45M" {
						path = copyOnce(b, path)
					}
				}
				pool, err := sql.Open("duckdb", "")
				if err != nil {
					b.Fatal(err)
				}
				defer pool.Close()
				conn, err := pool.Conn(ctx)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, "PRAGMA disable_checkpoint_on_shutdown"); err != nil {
					b.Fatal(err)
				}
				attach := fmt.Sprintf("ATTACH '%s' AS f%s", path, opts)
				query := strings.Replace(f.query, " FROM ", " FROM f.", 1)
				var attachT, queryT, detachT []time.Duration
				step := func(into *[]time.Duration, do func() error) {
					start := time.Now()
					if err := do(); err != nil {
						b.Fatal(err)
					}
					*into = append(*into, time.Since(start))
				}
				i := 0
				cycle := func() {
					step(&attachT, func() error { _, err := conn.ExecContext(ctx, attach); return err })
					step(&queryT, func() error {
						_, err := firstValue(conn.QueryContext(ctx, query, scatter(i, f.rows)))
						return err
					})
					step(&detachT, func() error { _, err := conn.ExecContext(ctx, "DETACH f"); return err })
					i++
				}
				cycle() // warm: the page cache, the instance
				attachT, queryT, detachT = nil, nil, nil
				for b.Loop() {
					cycle()
				}
				ms := func(t []time.Duration) float64 { return float64(latency.Percentile(t, 50).Microseconds()) / 1000 }
				b.ReportMetric(ms(attachT), "attach-ms")
				b.ReportMetric(ms(queryT), "query-ms")
				b.ReportMetric(ms(detachT), "detach-ms")
			})
		}
	}
}

// firstValue scans every column of the one row of rows and returns the
// first.
func firstValue(rows *sql.Rows, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if !rows.Next() {
		return nil, fmt.Errorf("no row: %v", rows.Err())
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	return vals[0], rows.Close()
}

// copyOnce copies path into the test's temporary folder.
func copyOnce(b *testing.B, path string) string {
	dst := filepath.Join(b.TempDir(), filepath.Base(path))
	in, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}
