// Package process names other processes of this machine, for messages
// that tell a user which program holds a file, and asks child processes to
// stop the way a user would.
package process

import (
	"os"
	"os/exec"
)

// Exe returns the path of the executable that process pid runs, or ""
// when the system does not tell (the process has exited, or it belongs to
// another user and this one may not look).
func Exe(pid int) string {
	if pid <= 0 {
		return ""
	}
	return exe(pid)
}

// NewGroup makes cmd start in a process group of its own, so that a Ctrl-C
// in this program's terminal does not reach it, and so that [Interrupt]
// can reach it on Windows.
func NewGroup(cmd *exec.Cmd) { newGroup(cmd) }

// Interrupt asks p to stop as a user would: SIGTERM on Unix, Ctrl-Break on
// Windows (which Go programs receive as [os.Interrupt]; p must have been
// started with [NewGroup]).
func Interrupt(p *os.Process) error { return interrupt(p) }
