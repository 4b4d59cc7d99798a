//go:build unix

package share

import (
	"net"
	"os"
	"path/filepath"
)

// listen opens a Unix socket in a new directory that only this user can
// enter (0700), and returns the directory, which the owner removes.
func listen() (net.Listener, string, error) {
	dir, err := os.MkdirTemp("", "healthsim-") // mode 0700
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "mcp.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return ln, dir, nil
}
