package process

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// exe reads the executable path from kern.procargs2 (argc, then the path
// the process was started from), falling back to the short command name.
func exe(pid int) string {
	if args, err := unix.SysctlRaw("kern.procargs2", pid); err == nil && len(args) > 4 {
		path, _, _ := bytes.Cut(args[4:], []byte{0})
		if len(path) > 0 && binary.LittleEndian.Uint32(args) > 0 {
			return string(path)
		}
	}
	if kp, err := unix.SysctlKinfoProc("kern.proc.pid", pid); err == nil {
		name, _, _ := bytes.Cut(kp.Proc.P_comm[:], []byte{0})
		return string(name)
	}
	return ""
}
