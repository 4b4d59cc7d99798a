package dbx_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
)

// lockHelper is a second process that takes a lock on the intent sidecar
// of path (exclusive or shared), prints "ready" and holds it until stdin
// closes or it is killed.
func lockHelper(exclusive bool) proctest.Helper {
	return func(path string, done <-chan struct{}) error {
		f, err := dbx.OpenSidecar(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if ok, err := dbx.TryLockFile(f, exclusive); !ok {
			return fmt.Errorf("lock (exclusive %v): taken by another (%v)", exclusive, err)
		}
		fmt.Println("ready")
		<-done
		return nil
	}
}

// waitHelper marks that it waits for the database at path, prints "ready"
// and waits until stdin closes or it is killed.
func waitHelper(path string, done <-chan struct{}) error {
	defer dbx.WaitFor(path)()
	fmt.Println("ready")
	<-done
	return nil
}

// tryLock opens the sidecar anew, tries to lock it and closes it (which
// drops the lock).
func tryLock(t *testing.T, path string, exclusive bool) bool {
	t.Helper()
	f, err := dbx.OpenSidecar(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, err := dbx.TryLockFile(f, exclusive)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestLockFileExclusiveAgainstShared: an exclusive lock excludes every
// other lock, shared ones share, in another process and between two opens
// of this one, and unlocking lets the next one in.
func TestLockFileExclusiveAgainstShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")

	// Two opens in this process conflict like two processes.
	a, b := openSidecar(t, path), openSidecar(t, path)
	mustLock(t, a, true, true)
	mustLock(t, b, false, false)
	if err := dbx.UnlockFile(a); err != nil {
		t.Fatal(err)
	}
	mustLock(t, b, false, true)
	mustLock(t, a, true, false)
	mustLock(t, a, false, true)
	dbx.UnlockFile(a)
	dbx.UnlockFile(b)

	shared := proctest.StartReady(t, "lock-sh", path)
	if tryLock(t, path, true) {
		t.Fatal("took an exclusive lock while another process holds a shared one")
	}
	if !tryLock(t, path, false) {
		t.Fatal("could not share a lock with another process")
	}
	shared.Stop()

	exclusive := proctest.StartReady(t, "lock-ex", path)
	if tryLock(t, path, false) || tryLock(t, path, true) {
		t.Fatal("took a lock while another process holds an exclusive one")
	}
	exclusive.Stop()
	if !tryLock(t, path, true) {
		t.Fatal("the exclusive lock outlived its process's unlock")
	}
}

// TestLockFileDiesWithProcess: a lock, and a waiting mark, end when their
// process is killed without a chance to clean up.
func TestLockFileDiesWithProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	holder := proctest.StartReady(t, "lock-ex", path)
	if tryLock(t, path, false) {
		t.Fatal("took a lock while another process holds an exclusive one")
	}
	holder.Kill()
	if !tryLock(t, path, true) {
		t.Fatal("the lock of a killed process is still held")
	}

	waiter := proctest.StartReady(t, "wait", path)
	if !dbx.FileWanted(path) {
		t.Fatal("a waiting process is not seen")
	}
	waiter.Kill()
	if dbx.FileWanted(path) {
		t.Fatal("a killed waiter is still seen waiting")
	}
}

// TestWaitingSeenByHolder: a writer that keeps the file sees a process
// that waits for it, its own waits included, and no longer once they are
// done.
func TestWaitingSeenByHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.duckdb")
	if dbx.FileWanted(path) {
		t.Fatal("wanted with nobody waiting")
	}
	waiter := proctest.StartReady(t, "wait", path)
	if !dbx.FileWanted(path) {
		t.Fatal("the waiting process is not seen")
	}
	// Two waiters, one done: still wanted.
	done := dbx.WaitFor(path)
	waiter.Stop()
	if !dbx.FileWanted(path) {
		t.Fatal("the waiter of this process is not seen")
	}
	done()
	if dbx.FileWanted(path) {
		t.Fatal("still wanted after every waiter is done")
	}
}

func openSidecar(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := dbx.OpenSidecar(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func mustLock(t *testing.T, f *os.File, exclusive, want bool) {
	t.Helper()
	got, err := dbx.TryLockFile(f, exclusive)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("lock (exclusive %v) = %v, want %v", exclusive, got, want)
	}
}
