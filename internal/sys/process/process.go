// Package process names other processes of this machine, for messages
// that tell a user which program holds a file.
package process

// Exe returns the path of the executable that process pid runs, or ""
// when the system does not tell (the process has exited, or it belongs to
// another user and this one may not look).
func Exe(pid int) string {
	if pid <= 0 {
		return ""
	}
	return exe(pid)
}
