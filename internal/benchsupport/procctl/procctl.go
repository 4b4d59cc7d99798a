// Package procctl runs and measures the processes that tests, benchmarks
// and the stress load start: each in a process group of its own, asked to
// stop as a user would, its memory read from the system.
package procctl

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
)

// Memory returns a memory figure of process pid in bytes, as its Linux
// /proc/PID/status line field gives it ("VmRSS": resident now, "VmHWM":
// the peak), or -1 where the system does not tell (other systems, an
// exited process).
func Memory(pid int, field string) int64 {
	if runtime.GOOS != "linux" {
		// Not even when a path /proc/PID/status opens: under Wine it is
		// Linux's, where a Windows PID names another process.
		return -1
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// NewGroup makes cmd start in a process group of its own, so that a Ctrl-C
// in this program's terminal does not reach it, and so that [Interrupt]
// can reach it on Windows.
func NewGroup(cmd *exec.Cmd) { newGroup(cmd) }

// Interrupt asks p to stop as a user would: SIGTERM on Unix, Ctrl-Break on
// Windows (which Go programs receive as [os.Interrupt]; p must have been
// started with [NewGroup]).
func Interrupt(p *os.Process) error { return interrupt(p) }
