package dbx

import (
	"context"
	"maps"
	"os"
	"slices"

	"github.com/healthsim/healthsim-go/internal/sys/filelock"
)

// Test hooks for the sidecar primitives and protocol (export_test.go is
// compiled into this package's tests only).

// ParseDSN is the routed driver's DSN parser.
var ParseDSN = parseDSN

// TryLockFile and UnlockFile are the OS lock primitives.
var (
	TryLockFile = filelock.TryLock
	UnlockFile  = filelock.Unlock
)

// WaitFor marks, as a waiting dbx process does, that this process waits
// for the database at dbPath, until the returned function is called.
func WaitFor(dbPath string) (done func()) {
	i := openIntent(dbPath)
	i.want()
	return func() { i.unwant(); i.close() }
}

// FileWanted reports whether a process waits for the database at dbPath,
// as a lingering writer sees it.
func FileWanted(dbPath string) bool {
	i := openIntent(dbPath)
	defer i.close()
	return i.wanted()
}

// OpenSidecar opens the intent sidecar of dbPath, creating it.
func OpenSidecar(dbPath string) (*os.File, error) {
	return os.OpenFile(dbPath+IntentSuffix, os.O_RDWR|os.O_CREATE, 0o644)
}

// KeptStatements returns how many prepared statements the read connection
// that pool hands out next keeps.
func KeptStatements(ctx context.Context, db *DB) (int, error) {
	c, err := db.Read().Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	n := 0
	err = c.Raw(func(dc any) error {
		n = len(dc.(*conn).kept)
		return nil
	})
	return n, err
}

// ReadAttached reports whether the read side has the file attached.
func ReadAttached(db *DB) bool {
	h := db.side.(*fileSide).readHost
	h.opening <- struct{}{}
	defer func() { <-h.opening }()
	return h.attached
}

// WaitBackground waits for the read side's background attaches started so
// far (see letGo), and the linger watcher.
func WaitBackground(db *DB) { db.side.(*fileSide).background.Wait() }

// DetachRead detaches the read side if no connection uses it, leaving its
// lease running.
func DetachRead(db *DB) {
	f := db.side.(*fileSide)
	f.releaseIdleReads()
	f.readHost.detachIdle()
}

// Warm runs the read side's background attach (see letGo) now.
func Warm(ctx context.Context, db *DB) { db.side.(*fileSide).readHost.warm(ctx) }

// StorageVersions returns the storage versions dbx names, oldest first.
func StorageVersions() []string {
	var names []string
	for _, n := range slices.Sorted(maps.Keys(storageVersions)) {
		names = append(names, storageVersions[n])
	}
	return names
}

// QueueWindow takes a turn in the queue of write windows and gives it
// back, as a Write does that found db open just before Close closed it.
func QueueWindow(db *DB) {
	_ = db.writes.Acquire(context.Background(), 1)
	db.writes.Release(1)
}

// ReadsWaiting returns how many reads of db wait at the gate for the
// write side to let go (or to share).
func ReadsWaiting(db *DB) int { return db.side.(*fileSide).gate.readersWaiting() }
