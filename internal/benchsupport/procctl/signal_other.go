//go:build !unix && !windows

package procctl

import (
	"os"
	"os/exec"
)

func newGroup(*exec.Cmd) {}

func interrupt(p *os.Process) error { return p.Signal(os.Interrupt) }
