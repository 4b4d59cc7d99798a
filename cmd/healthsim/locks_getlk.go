//go:build unix

package main

import (
	"fmt"
	"os"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/sys/process"
	"golang.org/x/sys/unix"
)

// getlkHolder asks the kernel (fcntl F_GETLK) for a process whose lock on
// the file at path conflicts with a write lock, that is, any holder. The
// kernel names one holder at a time: others may hold a shared lock too.
//
// It opens the database file, which a process using dbx must never do
// (closing the descriptor drops the process's own fcntl locks on it); the
// locks command is a short-lived process that holds none.
func getlkHolder(path string) (h Holder, held bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return Holder{}, false, fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk); err != nil {
		return Holder{}, false, fmt.Errorf("cannot ask the kernel who locks %s: %w", path, err)
	}
	if lk.Type == unix.F_UNLCK {
		return Holder{}, false, nil
	}
	h = Holder{PID: int(lk.Pid), Mode: dbx.ReadWrite}
	if lk.Type == unix.F_RDLCK {
		h.Mode = dbx.ReadOnly
	}
	h.Exe = process.Exe(h.PID)
	return h, true, nil
}
