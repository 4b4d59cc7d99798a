//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// writeLockReader returns a function that lists the processes holding a
// POSIX WRITE lock on the file at path (DuckDB's read-write lock), read
// from /proc/locks and matched by device and inode.
func writeLockReader(path string) (func() ([]int, error), error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	st := info.Sys().(*syscall.Stat_t)
	major, minor, inode := uint64(unix.Major(st.Dev)), uint64(unix.Minor(st.Dev)), st.Ino
	buf := make([]byte, 1<<20)
	return func() ([]int, error) {
		// One read: the kernel fills it (a page, about 50 locks) while it
		// holds the lock list, whereas os.ReadFile starts with 512 bytes,
		// and a line can slip by when another lock goes away between two
		// reads (a held lock then seems let go for one sample).
		f, err := os.Open("/proc/locks")
		if err != nil {
			return nil, err
		}
		n, err := f.Read(buf)
		f.Close()
		if err != nil && !errors.Is(err, io.EOF) { // EOF: no lock at all
			return nil, err
		}
		var pids []int
		for line := range bytes.Lines(buf[:n]) {
			// "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; "->" marks waiters.
			f := bytes.Fields(line)
			if len(f) < 6 || string(f[1]) != "POSIX" || string(f[3]) != "WRITE" {
				continue
			}
			var ma, mi, in uint64
			if _, err := fmt.Sscanf(string(f[5]), "%x:%x:%d", &ma, &mi, &in); err != nil || ma != major || mi != minor || in != inode {
				continue
			}
			if pid, err := strconv.Atoi(string(f[4])); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids, nil
	}, nil
}
