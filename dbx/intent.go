package dbx

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/sys/filelock"
	"github.com/healthsim/healthsim-go/internal/sys/process"
)

// IntentSuffix and WaitSuffix name the sidecar files next to the database
// (PATH + suffix) through which dbx processes give writers priority over
// readers. They hold only the last writer's PID; removing them while no
// dbx process has the database open is harmless.
const (
	IntentSuffix = ".dbx-lock"
	WaitSuffix   = ".dbx-wait"
)

// Sidecars returns the paths of the sidecar files of the database at path.
func Sidecars(path string) []string {
	return []string{path + IntentSuffix, path + WaitSuffix}
}

// errWriterActive is the cause in a LockError when another dbx process kept
// its write intent for the whole busy timeout.
var errWriterActive = errors.New("another dbx process is writing")

// intent is the cross-process half of writer preference among dbx
// processes (docs/dbx.md, "Writers first"): a writer holds an exclusive
// lock on the intent sidecar while it has, or is about to have, the file
// read-write, and readers let go of the file while it does; processes that
// wait for the file hold a shared lock on the wait sidecar, which ends a
// lingering writer. The locks belong to open sidecar files (see
// internal/sys/filelock), never to the database file, and die with their process.
type intent struct {
	path string // the database
	// probe and hold are two opens of the intent sidecar, mark and peek
	// two of the wait sidecar: locks on two opens of a file conflict with
	// each other, so this process's readers see its own writer like any
	// other.
	mu     sync.Mutex // serialises probes, and every use against close
	probe  *os.File
	hold   *os.File
	mark   *os.File
	peek   *os.File
	closed bool
	shares int  // readers of this process holding the shared lock on probe
	wants  int  // waiters of this process
	marked bool // mark holds its shared lock (wants > 0, unless a peek was in the way)
	// mine is set while this process holds the intent. A reader of this
	// process that is already counted by its gate must not wait for it:
	// that write waits for the reader to finish.
	mine atomic.Bool
}

// openIntent opens (creating if needed) the sidecars of the database at
// dbPath. It returns nil, and the protocol is off for this process, when
// they can be neither created nor opened (a read-only folder, say).
func openIntent(dbPath string) *intent {
	var files []*os.File
	for _, path := range []string{dbPath + IntentSuffix, dbPath + IntentSuffix, dbPath + WaitSuffix, dbPath + WaitSuffix} {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			f, err = os.Open(path) // a read-only open can be locked too
		}
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil
		}
		files = append(files, f)
	}
	return &intent{path: dbPath, probe: files[0], hold: files[1], mark: files[2], peek: files[3]}
}

// writerActive reports whether a dbx process (this one included) holds the
// write intent.
func (i *intent) writerActive() bool {
	if i.share() {
		i.unshare()
		return false
	}
	if !i.lockOpen() {
		return false
	}
	i.mu.Unlock()
	return true
}

// lockOpen locks mu and reports true if the sidecars are open; otherwise
// (or if the protocol is off) it leaves mu unlocked and reports false.
func (i *intent) lockOpen() bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	if i.closed {
		i.mu.Unlock()
		return false
	}
	return true
}

// share takes (or joins this process's) shared lock on the sidecar, which
// no writer can announce through; false if a writer holds the intent (or
// the protocol is off). Every true must be matched by an unshare.
func (i *intent) share() bool {
	if !i.lockOpen() {
		return false
	}
	defer i.mu.Unlock()
	if i.shares == 0 {
		if ok, _ := filelock.TryLock(i.probe, false); !ok {
			return false
		}
	}
	i.shares++
	return true
}

func (i *intent) unshare() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shares--
	if i.shares == 0 && !i.closed {
		_ = filelock.Unlock(i.probe)
	}
}

// readerTurn waits until no other dbx process holds the write intent and
// then holds a shared lock on the sidecar until the returned function is
// called: a reader calls it once it has attached the file, so a writer that
// comes next waits until the readers that waited have had their turn. It
// returns a *LockError (for mode) after timeout, or when ctx ends.
func (i *intent) readerTurn(ctx context.Context, mode Mode, timeout time.Duration) (done func(), err error) {
	noop := func() {}
	if i == nil {
		return noop, nil
	}
	shared := false
	err = i.poll(ctx, mode, timeout, func() bool {
		if i.mine.Load() { // this process writes: it waits for this reader
			return true
		}
		shared = i.share()
		return shared
	})
	if err != nil || !shared {
		return noop, err
	}
	return i.unshare, nil
}

// lock takes the write intent, waiting while another dbx process holds it,
// for timeout at most (then a *LockError naming that process).
func (i *intent) lock(ctx context.Context, timeout time.Duration) error {
	if i == nil {
		return nil
	}
	err := i.poll(ctx, ReadWrite, timeout, func() bool {
		if !i.lockOpen() {
			return false
		}
		defer i.mu.Unlock()
		ok, _ := filelock.TryLock(i.hold, true)
		return ok
	})
	if err != nil {
		return err
	}
	i.mine.Store(true)
	// Best effort: tells others (and `healthsim locks`) who writes.
	if err := i.hold.Truncate(0); err == nil {
		_, _ = i.hold.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return nil
}

// unlock gives the write intent up. It is a no-op if not held.
func (i *intent) unlock() {
	if i == nil {
		return
	}
	i.mine.Store(false)
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		_ = filelock.Unlock(i.hold)
	}
}

// want marks that this process waits for the file; every want must be
// matched by an unwant.
func (i *intent) want() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.wants++
	i.markLocked()
}

// markLocked takes the shared lock on the wait sidecar if this process
// waits and does not hold it yet: a writer peeking at that moment makes the
// try fail, and poll tries again at its next look (the caller holds mu).
func (i *intent) markLocked() {
	if i.wants > 0 && !i.marked && !i.closed {
		i.marked, _ = filelock.TryLock(i.mark, false)
	}
}

func (i *intent) unwant() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.wants--
	if i.wants == 0 && i.marked && !i.closed {
		_ = filelock.Unlock(i.mark)
		i.marked = false
	}
}

// wanted reports whether a process waits for the file: another dbx
// process's reader or writer (this process's own readers wait on its gate).
func (i *intent) wanted() bool {
	if !i.lockOpen() {
		return false
	}
	defer i.mu.Unlock()
	free, err := filelock.TryLock(i.peek, true)
	if err != nil {
		return false
	}
	if free {
		_ = filelock.Unlock(i.peek)
	}
	return !free
}

// pollMax is the longest pause between two looks at the sidecar: readers
// waiting for a writer notice within it that the writer is done.
const pollMax = time.Millisecond

// readersFirst is how long a process waits after its write window before it
// announces the next one, so that readers of other processes, which look
// every pollMax at most, get the file back between back-to-back windows.
const readersFirst = 1500 * time.Microsecond

// poll calls done until it returns true, backing off from 0.5 ms to
// pollMax, for timeout at most; it marks that this process waits
// meanwhile.
func (i *intent) poll(ctx context.Context, mode Mode, timeout time.Duration, done func() bool) error {
	if i == nil || done() {
		return nil
	}
	i.want()
	defer i.unwant()
	waited, err := retryBusy(ctx, timeout, 500*time.Microsecond, pollMax, func() (bool, error) {
		i.mu.Lock()
		i.markLocked()
		i.mu.Unlock()
		return !done(), nil
	})
	if err != nil {
		return i.lockError(mode, waited, ctx.Err())
	}
	return nil
}

func (i *intent) lockError(mode Mode, waited time.Duration, cause error) *LockError {
	pid, exe := i.recordedHolder()
	return &LockError{Path: i.path, Mode: mode, PID: pid, Exe: exe,
		Holder: ReadWrite, Waited: waited, Err: errWriterActive, Cause: cause}
}

// recordedHolder returns the PID and executable name of the dbx process
// that last took the write intent (it may have finished since), or 0 and
// "" if none is recorded.
func (i *intent) recordedHolder() (pid int, exe string) {
	b, err := os.ReadFile(i.path + IntentSuffix)
	if err != nil {
		return 0, ""
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, ""
	}
	return pid, filepath.Base(process.Exe(pid))
}

// IntentHolder returns the PID and executable name of the dbx process that
// holds the write intent of the database at dbPath now (writing, or waiting
// for the file to write), and held = false if none does. exe is "" where
// the system does not name the process. The PID is the one the holder
// records right after taking the intent: for that instant it is still the
// previous holder's. It only opens the sidecar, never
// the database, so any process may call it.
func IntentHolder(dbPath string) (pid int, exe string, held bool) {
	f, err := os.Open(dbPath + IntentSuffix)
	if err != nil {
		return 0, "", false
	}
	defer f.Close()
	if free, err := filelock.TryLock(f, false); err != nil || free {
		if free {
			_ = filelock.Unlock(f)
		}
		return 0, "", false
	}
	i := intent{path: dbPath}
	pid, exe = i.recordedHolder()
	return pid, exe, true
}

func (i *intent) close() {
	if i == nil {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		i.closed = true
		for _, f := range []*os.File{i.probe, i.hold, i.mark, i.peek} {
			f.Close()
		}
	}
}
