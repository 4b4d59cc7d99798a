package dbx

import (
	"errors"

	"golang.org/x/sys/windows"
)

// renameRefused reports whether os.Rename failed because a process has
// the file open (DuckDB opens it without FILE_SHARE_DELETE).
func renameRefused(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED) ||
		errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
