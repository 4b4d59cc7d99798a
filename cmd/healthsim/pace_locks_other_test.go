//go:build !linux

package main

import "errors"

// writeLockReader needs /proc/locks.
func writeLockReader(string) (func() ([]int, error), error) {
	return nil, errors.New("it samples /proc/locks to see who holds the file, and only Linux has it")
}
