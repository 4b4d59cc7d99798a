package benchfile

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
)

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
	pool, err := proctest.OpenRaw(path, true)
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
