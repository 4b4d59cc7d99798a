//go:build linux

package main

import (
	"bytes"
	"fmt"
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
	return func() ([]int, error) {
		table, err := os.ReadFile("/proc/locks")
		if err != nil {
			return nil, err
		}
		var pids []int
		for line := range bytes.Lines(table) {
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
