package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/sys/process"
	"golang.org/x/sys/unix"
)

// fileHolders lists every process with a POSIX or OFD lock on the file at
// path, matched by device and inode in /proc/locks.
func fileHolders(path string) ([]Holder, string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	st := info.Sys().(*syscall.Stat_t)
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the lock table: %w", err)
	}
	defer locks.Close()
	var holders []Holder
	seen := map[int]bool{}
	scanner := bufio.NewScanner(locks)
	for scanner.Scan() {
		// "1: POSIX  ADVISORY  READ 1234 08:01:5678 0 EOF"; "->" marks waiters.
		f := strings.Fields(scanner.Text())
		if len(f) < 6 || f[1] == "->" || f[1] != "POSIX" && f[1] != "OFDLCK" {
			continue
		}
		dev := strings.Split(f[5], ":")
		if len(dev) != 3 {
			continue
		}
		major, _ := strconv.ParseUint(dev[0], 16, 32)
		minor, _ := strconv.ParseUint(dev[1], 16, 32)
		inode, _ := strconv.ParseUint(dev[2], 10, 64)
		if inode != st.Ino || major != uint64(unix.Major(st.Dev)) || minor != uint64(unix.Minor(st.Dev)) {
			continue
		}
		pid, err := strconv.Atoi(f[4])
		if err != nil || seen[pid] {
			continue
		}
		seen[pid] = true
		mode := dbx.ReadWrite
		if f[3] == "READ" {
			mode = dbx.ReadOnly
		}
		holders = append(holders, Holder{PID: pid, Exe: process.Exe(pid), Mode: mode})
	}
	return holders, "", scanner.Err()
}
