package filelock

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRegion is the byte range the locks cover: far past any data, so
// that what a lock holder writes at the start of the file stays readable
// (Windows enforces byte-range locks on reads and writes).
var lockRegion = windows.Overlapped{OffsetHigh: 1 << 8} // offset 2^40, length 1

// TryLock takes a lock on f without waiting, shared or exclusive, and
// reports whether it got it (false, nil: another handle holds a
// conflicting lock).
func TryLock(f *os.File, exclusive bool) (bool, error) {
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

// Unlock drops the lock TryLock took on f.
func Unlock(f *os.File) error {
	ol := lockRegion
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
