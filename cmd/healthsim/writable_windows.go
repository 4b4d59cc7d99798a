package main

import (
	"errors"
	"os"
)

// canWrite reports a file with the read-only attribute; folders are not
// checked (their read-only attribute does not keep files from being
// created in them).
func canWrite(path string, folder bool) error {
	if folder {
		return nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.Mode().Perm()&0o200 == 0 {
		return errors.New("the file is read-only")
	}
	return nil
}
