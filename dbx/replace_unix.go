//go:build unix

package dbx

// renameRefused reports whether os.Rename failed because a process has
// the file open: never on Unix, where an open file can be replaced.
func renameRefused(error) bool { return false }
