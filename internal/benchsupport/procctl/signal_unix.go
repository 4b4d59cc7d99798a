//go:build unix

package procctl

import (
	"os"
	"os/exec"
	"syscall"
)

func newGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
}

func interrupt(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
