package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/internal/sys/process"
)

// LocksCommand tells who holds the database file's lock right now: the
// first thing to run after a lock error. How it knows depends on the
// system (see fileHolders): Linux lists every holder from /proc/locks,
// macOS asks the kernel for one holder (F_GETLK), Windows asks the
// Restart Manager which processes have the file open.
type LocksCommand struct {
	*env
	db cli.DB
}

// Holder is a process holding a lock on the database file.
type Holder struct {
	PID  int
	Exe  string   // "" if the system does not name it
	Mode dbx.Mode // "" if the system does not tell
}

func (c *LocksCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("locks", "healthsim locks [--db PATH]", c.stderr)
	c.db.Register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) > 0 {
		return cli.UsageError(fs, "locks takes no arguments")
	}
	path, err := c.db.ResolveExisting()
	if err != nil {
		return err
	}
	holders, caveat, err := fileHolders(path)
	if err != nil {
		return err
	}
	if len(holders) == 0 {
		fmt.Fprintf(c.stdout, "Nobody holds %s: any process can open it.\n", path)
	} else {
		fmt.Fprintf(c.stdout, "%s is held by:\n", path)
		for _, h := range holders {
			mode := map[dbx.Mode]string{
				dbx.ReadWrite: "read-write (nobody else can open the file)",
				dbx.ReadOnly:  "read-only (other readers can open it; writers must wait)",
				"":            "open (the system does not say whether read-only or read-write)",
			}[h.Mode]
			exe := h.Exe
			if exe == "" {
				exe = "(executable not visible)"
			}
			fmt.Fprintf(c.stdout, "  PID %-7d %s  %s\n", h.PID, exe, mode)
		}
	}
	if caveat != "" {
		fmt.Fprintln(c.stdout, caveat)
	}
	// The dbx sidecar: a writer holds it from announcing its write until
	// it has let go of the file.
	sidecar := path + dbx.IntentSuffix
	if pid, exe, held := dbx.IntentHolder(path); held {
		fmt.Fprintf(c.stdout, "Write intent (%s): PID %d %s is writing or waiting to write; dbx readers let go of the file meanwhile.\n", sidecar, pid, exe)
	} else {
		fmt.Fprintf(c.stdout, "Write intent (%s): no dbx process is writing or waiting to write.\n", sidecar)
	}
	fmt.Fprintln(c.stdout, describeOwner(path))
	return nil
}

// describeOwner describes the owner of the file's shared server, if any
// (healthsim serve), and how many bridges it serves.
func describeOwner(path string) string {
	rec, owned := share.Owned(path)
	switch {
	case !owned:
		return fmt.Sprintf("Shared server (%s): none; no healthsim serve --share owns the database.", path+share.Suffix)
	case rec.PID == 0:
		return fmt.Sprintf("Shared server (%s): starting.", path+share.Suffix)
	}
	who := fmt.Sprintf("PID %d", rec.PID)
	if exe := process.Exe(rec.PID); exe != "" {
		who += " " + filepath.Base(exe)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := rec.Status(ctx)
	if err != nil {
		return fmt.Sprintf("Shared server (%s): %s owns the database; it did not say how many bridges it serves (%v).", path+share.Suffix, who, err)
	}
	return fmt.Sprintf("Shared server (%s): %s owns the database and serves %d bridge(s) besides its own client.", path+share.Suffix, who, st.Bridges)
}
