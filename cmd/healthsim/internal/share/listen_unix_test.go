//go:build unix

package share

import (
	"os"
	"path/filepath"
	"testing"
)

// An owner that dies without releasing the file leaves its endpoint's
// directory behind; the next owner removes it, and nothing else.
func TestClaimRemovesDeadOwnersEndpoint(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.duckdb")
	o, err := Claim(db)
	if err != nil {
		t.Fatal(err)
	}
	ln, rec, err := o.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(rec); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	o.f.Close() // as a killed process's: the lock goes, the record stays
	dir := filepath.Dir(rec.Address)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the dead owner's endpoint directory: %v", err)
	}

	// A record naming a directory listen did not make is left alone.
	mine := t.TempDir()
	o2, err := Claim(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("after the next claim, the dead owner's endpoint directory: %v", err)
	}
	if err := o2.Publish(Record{PID: 1, Network: "unix", Address: filepath.Join(mine, socketName)}); err != nil {
		t.Fatal(err)
	}
	o2.f.Close()
	o3, err := Claim(db)
	if err != nil {
		t.Fatal(err)
	}
	defer o3.Release()
	if _, err := os.Stat(mine); err != nil {
		t.Fatalf("a directory listen did not make: %v", err)
	}
}
