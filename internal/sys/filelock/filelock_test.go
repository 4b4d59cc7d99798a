package filelock_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/internal/sys/filelock"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
)

// The test binary re-runs itself as a second process that holds a lock
// (proctest): lock-sh and lock-ex lock the file at path, write their PID
// at its start and hold the lock until stdin closes or they are killed.
func TestMain(m *testing.M) {
	proctest.Main(m, map[string]proctest.Helper{"lock-sh": holder(false), "lock-ex": holder(true)})
}

func holder(exclusive bool) proctest.Helper {
	return func(path string, done <-chan struct{}) error {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if ok, err := filelock.TryLock(f, exclusive); !ok {
			return fmt.Errorf("lock (exclusive %v): taken by another (%v)", exclusive, err)
		}
		if _, err := fmt.Fprintf(f, "%d", os.Getpid()); err != nil {
			return err
		}
		fmt.Println("ready")
		<-done
		return nil
	}
}

// open opens path for reading and writing, closed at the end of the test.
func open(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func tryLock(t *testing.T, f *os.File, exclusive bool) bool {
	t.Helper()
	ok, err := filelock.TryLock(f, exclusive)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestTryLock: an exclusive lock excludes every other, shared locks
// share; alike between two opens in this process and against another
// process. The holder's writes stay readable by others.
func TestTryLock(t *testing.T) {
	cases := []struct {
		held, asked bool // exclusive?
		want        bool
	}{
		{false, false, true},
		{false, true, false},
		{true, false, false},
		{true, true, false},
	}
	for _, tc := range cases {
		name := fmt.Sprintf("held exclusive %v, asked exclusive %v", tc.held, tc.asked)
		t.Run(name+", same process", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			first, second := open(t, path), open(t, path)
			if !tryLock(t, first, tc.held) {
				t.Fatal("the first lock was refused")
			}
			if got := tryLock(t, second, tc.asked); got != tc.want {
				t.Fatalf("second lock: got %v, want %v", got, tc.want)
			}
			if err := filelock.Unlock(first); err != nil {
				t.Fatal(err)
			}
			if !tc.want && !tryLock(t, second, tc.asked) {
				t.Fatal("refused after the holder unlocked")
			}
		})
		t.Run(name+", another process", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			mode := map[bool]string{false: "lock-sh", true: "lock-ex"}[tc.held]
			p := proctest.StartReady(t, mode, path)
			f := open(t, path)
			if got := tryLock(t, f, tc.asked); got != tc.want {
				t.Fatalf("lock beside a %s process: got %v, want %v", mode, got, tc.want)
			}
			if data, err := os.ReadFile(path); err != nil || string(data) != fmt.Sprint(p.PID()) {
				t.Fatalf("reading what the holder wrote: %q, %v; want its PID %d", data, err, p.PID())
			}
			p.Stop()
			if !tc.want && !tryLock(t, f, tc.asked) {
				t.Fatal("refused after the holder exited")
			}
		})
	}
}

// TestLockEndsWithProcess: a killed holder's lock ends with it, and
// closing the file ends a lock in this process.
func TestLockEndsWithProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	p := proctest.StartReady(t, "lock-ex", path)
	f := open(t, path)
	if tryLock(t, f, false) {
		t.Fatal("locked beside an exclusive holder")
	}
	p.Kill()
	if !tryLock(t, f, true) {
		t.Fatal("refused after the holder was killed")
	}
	f.Close()
	if !tryLock(t, open(t, path), true) {
		t.Fatal("refused after the holding file was closed")
	}
}
