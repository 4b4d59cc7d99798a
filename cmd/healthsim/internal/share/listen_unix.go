//go:build unix

package share

import (
	"net"
	"os"
	"path/filepath"
	"strings"
)

// The endpoint is socketName in a directory dirPrefix* of os.TempDir().
const (
	dirPrefix  = "healthsim-"
	socketName = "mcp.sock"
)

// listen opens a Unix socket in a new directory that only this user can
// enter (0700), and returns the directory, which the owner removes.
func listen() (net.Listener, string, error) {
	dir, err := os.MkdirTemp("", dirPrefix) // mode 0700
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, socketName))
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", err
	}
	return ln, dir, nil
}

// removeEndpoint removes the directory of the endpoint in rec, an owner's
// that died without removing it, if it is one that listen makes.
func removeEndpoint(rec Record) {
	dir := filepath.Dir(rec.Address)
	if rec.Network != "unix" || filepath.Base(rec.Address) != socketName ||
		filepath.Dir(dir) != filepath.Clean(os.TempDir()) || !strings.HasPrefix(filepath.Base(dir), dirPrefix) {
		return
	}
	os.RemoveAll(dir)
}
