//go:build unix

package dbx

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLockFile takes a lock on all of f without waiting, shared or
// exclusive, and reports whether it got it. It is flock(2), which locks
// an open file description: two opens of one file conflict even within
// one process, closing another descriptor of the file does not drop the
// lock, and the lock ends with its file or its process.
func tryLockFile(f *os.File, exclusive bool) (bool, error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return false, err
	}
}

// unlockFile drops the lock tryLockFile took on f.
func unlockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// renameRefused reports whether os.Rename failed because a process has
// the file open: never on Unix, where an open file can be replaced.
func renameRefused(error) bool { return false }
