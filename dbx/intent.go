package dbx

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// IntentSuffix names the sidecar file next to the database (PATH + suffix)
// through which dbx processes give writers priority over readers.
const IntentSuffix = ".dbx-lock"

// errWriterActive is the cause in a LockError when another dbx process kept
// its write intent for the whole busy timeout.
var errWriterActive = errors.New("another dbx process is writing")

// intent is the cross-process half of writer preference among dbx
// processes. A writer holds an exclusive flock on the sidecar file from
// before it opens the database read-write until it has let go of it, and
// writes its PID there. Readers probe for that lock before they attach the
// file, when a pooled connection is reused and, while attached, every few
// milliseconds; they finish what is in flight, let go of the file, and
// open no new connection until the writer is done. Without it, a process
// that reads continuously would keep every other process from writing.
//
// The lock is a flock on the sidecar, never a lock or a descriptor on the
// database file (closing any descriptor of the database would drop this
// process's DuckDB lock). flock dies with its process, so a crashed writer
// cannot leave the protocol stuck. Processes that do not use dbx ignore the
// sidecar; they still meet the busy timeout and a LockError naming them.
type intent struct {
	path string
	// probe and hold are separate open file descriptions of the sidecar:
	// flocks on them conflict with each other, so this process's readers
	// see its own writer like any other.
	mu     sync.Mutex // serialises probes, and every use against close
	probe  *os.File
	hold   *os.File
	closed bool
	shares int // readers of this process holding the shared lock on probe
	wants  int // waiters of this process holding the want mark on probe
	// mine is set while this process holds the intent. A reader of this
	// process that is already counted by its gate must not wait for it:
	// that write waits for the reader to finish.
	mine atomic.Bool
}

// openIntent opens (creating if needed) the sidecar of the database at
// dbPath. It returns nil, and the protocol is off for this process, when the
// sidecar can be neither created nor opened (a read-only folder, say).
func openIntent(dbPath string) *intent {
	path := dbPath + IntentSuffix
	open := func() (*os.File, error) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			f, err = os.Open(path) // flock works on a read-only descriptor too
		}
		return f, err
	}
	probe, err := open()
	if err != nil {
		return nil
	}
	hold, err := open()
	if err != nil {
		probe.Close()
		return nil
	}
	return &intent{path: path, probe: probe, hold: hold}
}

// writerActive reports whether a dbx process (this one included) holds the
// write intent.
func (i *intent) writerActive() bool {
	if i.share() {
		i.unshare()
		return false
	}
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return !i.closed
}

// share takes (or joins this process's) shared lock on the sidecar, which
// no writer can announce through; false if a writer holds the intent (or
// the protocol is off). Every true must be matched by an unshare.
func (i *intent) share() bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return false
	}
	if i.shares == 0 && unix.Flock(int(i.probe.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
		return false
	}
	i.shares++
	return true
}

func (i *intent) unshare() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.shares--
	if i.shares == 0 && !i.closed {
		_ = unix.Flock(int(i.probe.Fd()), unix.LOCK_UN)
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
		i.mu.Lock()
		defer i.mu.Unlock()
		return !i.closed && unix.Flock(int(i.hold.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
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
		_ = unix.Flock(int(i.hold.Fd()), unix.LOCK_UN)
	}
}

// wantByte is the byte of the sidecar on which dbx processes that wait for
// the file hold a shared OFD record lock (independent of the flocks), so
// that a writer keeping the file between windows (see [WithWriteLinger])
// sees someone waits and lets go.
const wantByte = 1

// want marks that this process waits for the file; every want must be
// matched by an unwant.
func (i *intent) want() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.wants == 0 {
		i.wantMark(unix.F_RDLCK)
	}
	i.wants++
}

func (i *intent) unwant() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.wants--
	if i.wants == 0 {
		i.wantMark(unix.F_UNLCK)
	}
}

// wantMark sets (F_RDLCK) or clears (F_UNLCK) this process's mark on
// wantByte (the caller holds mu).
func (i *intent) wantMark(typ int16) {
	if !i.closed {
		lk := unix.Flock_t{Type: typ, Start: wantByte, Len: 1}
		_ = unix.FcntlFlock(i.probe.Fd(), unix.F_OFD_SETLK, &lk)
	}
}

// wanted reports whether a process waits for the file: another dbx
// process's reader or writer (this process's own readers wait on its gate).
func (i *intent) wanted() bool {
	if i == nil {
		return false
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.closed {
		return false
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Start: wantByte, Len: 1}
	if err := unix.FcntlFlock(i.hold.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}

// pollMax is the longest pause between two looks at the sidecar: readers
// waiting for a writer notice within it that the writer is done.
const pollMax = time.Millisecond

// readersFirst is how long a process waits after its write window before it
// announces the next one, so that readers of other processes, which look
// every pollMax at most, get the file back between back-to-back windows.
const readersFirst = 1500 * time.Microsecond

// poll calls done until it returns true, backing off from 0.5 ms to
// pollMax, for timeout at most.
func (i *intent) poll(ctx context.Context, mode Mode, timeout time.Duration, done func() bool) error {
	if i == nil || done() {
		return nil
	}
	i.want()
	defer i.unwant()
	start := time.Now()
	backoff := 500 * time.Microsecond
	for {
		waited := time.Since(start)
		if waited >= timeout {
			return i.lockError(mode, waited, nil)
		}
		select {
		case <-time.After(min(backoff/2+rand.N(backoff/2), timeout-waited)):
		case <-ctx.Done():
			return i.lockError(mode, time.Since(start), ctx.Err())
		}
		backoff = min(2*backoff, pollMax)
		if done() {
			return nil
		}
	}
}

func (i *intent) lockError(mode Mode, waited time.Duration, cause error) *LockError {
	pid, exe := IntentHolder(strings.TrimSuffix(i.path, IntentSuffix))
	return &LockError{Path: strings.TrimSuffix(i.path, IntentSuffix), Mode: mode, PID: pid, Exe: exe,
		Holder: ReadWrite, Waited: waited, Err: errWriterActive, Cause: cause}
}

// IntentHolder returns the PID and executable name of the dbx process that
// last took the write intent of the database at dbPath (it may have
// finished since), or 0 and "" if none is recorded.
func IntentHolder(dbPath string) (pid int, exe string) {
	b, err := os.ReadFile(dbPath + IntentSuffix)
	if err != nil {
		return 0, ""
	}
	pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, ""
	}
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil {
		exe = filepath.Base(target)
	}
	return pid, exe
}

func (i *intent) close() {
	if i == nil {
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.closed {
		i.closed = true
		i.probe.Close()
		i.hold.Close()
	}
}
