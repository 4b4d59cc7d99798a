//go:build unix

package main

import "golang.org/x/sys/unix"

// canWrite asks the system whether this process's user may write the file
// at path, or create files in the folder at path (access(2)). For root it
// says yes except on a read-only file system.
func canWrite(path string, folder bool) error {
	mode := uint32(unix.W_OK)
	if folder {
		mode |= unix.X_OK
	}
	return unix.Access(path, mode)
}
