// Package filelock takes advisory locks on whole open files, shared or
// exclusive, without waiting: flock(2) on Linux and macOS, LockFileEx on
// Windows. A lock belongs to the open file (two opens of one file conflict
// even within one process), and ends when the file is closed or its
// process dies. Lock sidecar files with it, never a database file itself:
// on Linux and macOS closing any descriptor of a file drops the process's
// fcntl locks on it, which DuckDB holds.
package filelock
