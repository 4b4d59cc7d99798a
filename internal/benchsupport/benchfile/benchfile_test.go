package benchfile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

// TestBuild: while the file holds less than 97% of the target, fill
// writes the next units, as many as the bytes per unit (guessed for the
// first batch, about four times too high here, then measured from the last
// batch) say the target needs; at 97% it stops. Setup alone past the
// target leaves fill unrun.
func TestBuild(t *testing.T) {
	ctx := context.Background()
	const minUnits, maxUnits, guess = 1000, 5_000_000, 256
	type batch struct{ next, n, sizeBefore int64 }
	build := func(t *testing.T, target int64) (setupSize, size int64, batches []batch, rows int64) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "build.duckdb")
		tmp := path + ".partial"
		setup := func(db *dbx.DB) error {
			err := db.Write(ctx, func(tx *sqlx.Tx) error {
				_, err := tx.ExecContext(ctx, "CREATE TABLE wide (id BIGINT, a UBIGINT, b UBIGINT, c DOUBLE, s1 VARCHAR, s2 VARCHAR)")
				return err
			})
			if err == nil {
				setupSize, err = Size(tmp)
			}
			return err
		}
		fill := func(tx *sqlx.Tx, next, n int64) error {
			size, err := Size(tmp) // as the previous window left it
			if err != nil {
				return err
			}
			batches = append(batches, batch{next, n, size})
			_, err = tx.ExecContext(ctx, `INSERT INTO wide SELECT i, hash(i), hash(-i), random(), md5(i::VARCHAR), md5((i * 7919)::VARCHAR)
				FROM range(?, ?) r(i)`, next, next+n)
			return err
		}
		if err := Build(ctx, path, target, Batches{Min: minUnits, Max: maxUnits, BytesPerUnit: guess}, setup, fill); err != nil {
			t.Fatal(err)
		}
		size, err := Size(path)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := OpenPlain(path, true)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		if err := pool.QueryRow("SELECT count(*) FROM wide").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		return setupSize, size, batches, rows
	}

	const target = 16e6
	setupSize, size, batches, rows := build(t, target)
	t.Logf("setup %d bytes, then batches %+v: %d bytes, %.1f%% of %d", setupSize, batches, size, 100*float64(size)/target, int64(target))
	if setupSize <= 0 || setupSize >= target*97/100 {
		t.Fatalf("setup left %d bytes: the test needs fill to run", setupSize)
	}
	if len(batches) < 2 {
		t.Fatalf("%d batches, want at least 2: the first guess is too high to reach the target", len(batches))
	}
	next, before, perUnit := int64(0), setupSize, int64(guess)
	for i, b := range batches {
		if i > 0 {
			perUnit = max(1, (b.sizeBefore-before)/batches[i-1].n)
		}
		if want := min(max((target-b.sizeBefore)/perUnit, minUnits), maxUnits); b.next != next || b.n != want {
			t.Errorf("batch %d: units from %d, %d of them; want from %d, %d of them (%d bytes short at %d bytes a unit)",
				i, b.next, b.n, next, want, target-b.sizeBefore, perUnit)
		}
		if b.sizeBefore >= target*97/100 {
			t.Errorf("batch %d ran on a file of %d bytes, already 97%% of %d", i, b.sizeBefore, int64(target))
		}
		next, before = next+b.n, b.sizeBefore
	}
	if rows != next {
		t.Errorf("wide has %d rows, want the %d units fill wrote", rows, next)
	}
	if size < target*97/100 {
		t.Errorf("size %d, want at least 97%% of %d", size, int64(target))
	}

	t.Run("setup past the target", func(t *testing.T) {
		setupSize, size, batches, rows := build(t, 1000)
		if len(batches) != 0 || rows != 0 || size != setupSize {
			t.Errorf("%d bytes (setup left %d), %d rows, batches %+v; want the setup's file as it was", size, setupSize, rows, batches)
		}
	})
}

func TestPointReads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bench.duckdb")
	const target, rows = 4e6, 1000
	if err := PointReads(context.Background(), path, target, rows); err != nil {
		t.Fatal(err)
	}
	size, err := Size(path)
	if err != nil {
		t.Fatal(err)
	}
	if size < target*97/100 {
		t.Errorf("size %d, want at least 97%% of %d", size, int64(target))
	}
	left, _ := filepath.Glob(path + ".partial*")
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	pool, err := OpenPlain(path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != rows {
		t.Errorf("t has %d rows (%v), want %d", n, err, rows)
	}
	if _, err := os.Stat(path + ".wal"); err == nil {
		t.Error("a WAL was left beside the built file")
	}
}
