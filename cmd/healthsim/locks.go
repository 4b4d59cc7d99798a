package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"golang.org/x/sys/unix"
)

// LocksCommand tells who holds the database file's lock right now, from
// /proc/locks: the first thing to run after a lock error.
type LocksCommand struct {
	*env
	db cli.DB
}

// Holder is a process holding a lock on the database file.
type Holder struct {
	PID      int
	Exe      string
	ReadOnly bool
}

func (c *LocksCommand) Run(ctx context.Context, args []string) error {
	fs := c.newFlagSet("locks", "locks [--db PATH]")
	c.db.Register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) > 0 {
		return cli.UsageError(fs, "locks takes no arguments")
	}
	path, err := c.db.Resolve()
	if err != nil {
		return err
	}
	holders, err := lockHolders(path, "POSIX", "OFDLCK")
	if err != nil {
		return err
	}
	if len(holders) == 0 {
		fmt.Fprintf(c.stdout, "Nobody holds %s: any process can open it.\n", path)
	} else {
		fmt.Fprintf(c.stdout, "%s is held by:\n", path)
		for _, h := range holders {
			mode := "read-write (nobody else can open the file)"
			if h.ReadOnly {
				mode = "read-only (other readers can open it; writers must wait)"
			}
			fmt.Fprintf(c.stdout, "  PID %-7d %s  %s\n", h.PID, h.Exe, mode)
		}
	}
	// The dbx sidecar: a writer holds it exclusively from announcing its
	// write until it has let go of the file.
	sidecar := path + dbx.IntentSuffix
	if _, err := os.Stat(sidecar); err != nil {
		return nil
	}
	writers, err := lockHolders(sidecar, "FLOCK")
	if err != nil {
		return err
	}
	for _, w := range writers {
		if !w.ReadOnly {
			fmt.Fprintf(c.stdout, "Write intent (%s): PID %d %s is writing or waiting to write; dbx readers let go of the file meanwhile.\n", sidecar, w.PID, w.Exe)
			return nil
		}
	}
	fmt.Fprintf(c.stdout, "Write intent (%s): no dbx process is writing or waiting to write.\n", sidecar)
	return nil
}

// lockHolders lists the processes with a lock of one of the kinds (POSIX,
// OFDLCK, FLOCK) on the file at path, matched by device and inode in
// /proc/locks (Linux).
func lockHolders(path string, kinds ...string) ([]Holder, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("cannot read the inode of %s on this system", path)
	}
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return nil, fmt.Errorf("cannot read the lock table (only Linux has /proc/locks): %w", err)
	}
	defer locks.Close()
	var holders []Holder
	seen := map[int]bool{}
	scanner := bufio.NewScanner(locks)
	for scanner.Scan() {
		// "1: POSIX  ADVISORY  READ 1234 08:01:5678 0 EOF"; "->" marks waiters.
		f := strings.Fields(scanner.Text())
		if len(f) < 6 || f[1] == "->" || !slices.Contains(kinds, f[1]) {
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
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			exe = "(executable not visible)"
		}
		holders = append(holders, Holder{PID: pid, Exe: exe, ReadOnly: f[3] == "READ"})
	}
	return holders, scanner.Err()
}
