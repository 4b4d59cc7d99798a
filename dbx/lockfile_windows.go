package dbx

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRegion is the byte range the sidecar locks cover: far past any data,
// so that the PID a writer records at the start of the file stays readable
// (Windows enforces byte-range locks on reads and writes).
var lockRegion = windows.Overlapped{OffsetHigh: 1 << 8} // offset 2^40, length 1

// tryLockFile takes a lock on f without waiting, shared or exclusive, and
// reports whether it got it. It is LockFileEx, which locks per handle: two
// opens of one file conflict even within one process, and the lock ends
// with its handle or its process.
func tryLockFile(f *os.File, exclusive bool) (bool, error) {
	flags := uint32(windows.LOCKFILE_FAIL_IMMEDIATELY)
	if exclusive {
		flags |= windows.LOCKFILE_EXCLUSIVE_LOCK
	}
	ol := lockRegion
	err := windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, 1, 0, &ol)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, windows.ERROR_LOCK_VIOLATION):
		return false, nil
	}
	return false, err
}

// unlockFile drops the lock tryLockFile took on f.
func unlockFile(f *os.File) error {
	ol := lockRegion
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// renameRefused reports whether os.Rename failed because a process has
// the file open (DuckDB opens it without FILE_SHARE_DELETE).
func renameRefused(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
