// Package share lets the `healthsim serve` processes of one database file
// share one server. The first to claim the file becomes its owner: it
// serves MCP over streamable HTTP on a private endpoint, recorded beside
// the database (PATH + [Suffix]) with a random token. Each later one
// becomes a bridge that forwards its client's messages to the owner and
// never opens the database. The claim is a lock on the record file, so it
// dies with its process, and a bridge that finds the owner gone claims the
// file itself (see [Bridge]).
package share

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/filelock"
)

// Suffix names the record file next to the database (PATH + Suffix): who
// owns the file and how to reach it. It is readable only by its user.
const Suffix = ".healthsim-owner"

// ErrOwned is returned by [Claim] when another process owns the file.
var ErrOwned = errors.New("share: another process owns the database")

// Record is how to reach the owner of a database file.
type Record struct {
	PID     int    `json:"pid"`
	Network string `json:"network"` // "unix" (Linux, macOS) or "tcp" (loopback, Windows)
	Address string `json:"address"` // the socket's path, or host:port
	Token   string `json:"token"`   // sent as "Authorization: Bearer TOKEN"
}

// Owner is this process's claim on a database file.
type Owner struct {
	f       *os.File // the record, locked exclusively while this process owns the file
	dir     string   // the endpoint's private directory, if any
	bridges atomic.Int64
}

// WatchPath and StatusPath are the owner's own endpoints, beside MCP's:
// each bridge holds a request to WatchPath open for as long as it bridges
// to this owner (so the owner counts them, and a bridge learns at once
// that its owner is gone); StatusPath answers a [Status].
const (
	WatchPath  = "/share/watch"
	StatusPath = "/share/status"
)

// bridgePIDHeader carries a watching bridge's PID.
const bridgePIDHeader = "Healthsim-Bridge-Pid"

// Status is what an owner answers at StatusPath.
type Status struct {
	PID     int `json:"pid"`
	Bridges int `json:"bridges"`
}

// Handlers returns the owner's endpoints, to serve with MCP's (behind the
// same token). The watches end when ctx does.
func (o *Owner) Handlers(ctx context.Context) map[string]http.Handler {
	watch := func(w http.ResponseWriter, r *http.Request) {
		// A bridge that took ownership watches itself: not counted.
		if r.Header.Get(bridgePIDHeader) != strconv.Itoa(os.Getpid()) {
			o.bridges.Add(1)
			defer o.bridges.Add(-1)
		}
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-ctx.Done():
		}
	}
	status := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Status{PID: os.Getpid(), Bridges: int(o.bridges.Load())})
	}
	return map[string]http.Handler{WatchPath: http.HandlerFunc(watch), StatusPath: http.HandlerFunc(status)}
}

// Claim makes this process the owner of the database at dbPath, or fails
// with ErrOwned if another process is.
func Claim(dbPath string) (*Owner, error) {
	f, err := os.OpenFile(dbPath+Suffix, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("share: open %s: %w", dbPath+Suffix, err)
	}
	ok, err := filelock.TryLock(f, true)
	if err != nil || !ok {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("share: lock %s: %w", dbPath+Suffix, err)
		}
		return nil, ErrOwned
	}
	return &Owner{f: f}, nil
}

// Listen opens the owner's private endpoint (see listen) and returns it
// with its record: this process's PID and a new random token.
func (o *Owner) Listen() (net.Listener, Record, error) {
	ln, dir, err := listen()
	if err != nil {
		return nil, Record{}, fmt.Errorf("share: listen: %w", err)
	}
	o.dir = dir
	token := make([]byte, 32)
	_, _ = rand.Read(token) // never fails
	addr := ln.Addr()
	return ln, Record{PID: os.Getpid(), Network: addr.Network(), Address: addr.String(), Token: hex.EncodeToString(token)}, nil
}

// Publish writes rec to the record file, for bridges to find.
func (o *Owner) Publish(rec Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := o.f.Truncate(0); err != nil {
		return fmt.Errorf("share: publish: %w", err)
	}
	if _, err := o.f.WriteAt(append(b, '\n'), 0); err != nil {
		return fmt.Errorf("share: publish: %w", err)
	}
	return o.f.Sync()
}

// Release empties the record, removes the endpoint's directory and gives
// the file up. The caller has closed the listener.
func (o *Owner) Release() {
	_ = o.f.Truncate(0)
	if o.dir != "" {
		os.RemoveAll(o.dir)
	}
	o.f.Close() // drops the lock
}

// Owned reports whether a process owns the database at dbPath now, and its
// record (empty while the owner is still starting).
func Owned(dbPath string) (Record, bool) {
	f, err := os.Open(dbPath + Suffix)
	if err != nil {
		return Record{}, false
	}
	defer f.Close()
	if free, err := filelock.TryLock(f, false); err != nil || free {
		if free {
			_ = filelock.Unlock(f)
		}
		return Record{}, false
	}
	var rec Record
	b, _ := os.ReadFile(dbPath + Suffix)
	_ = json.Unmarshal(b, &rec)
	return rec, true
}

// Find waits until a process other than not owns the database at dbPath
// and has published its record, and returns it; ErrUnowned if the file has
// no owner (then the caller may claim it).
func Find(ctx context.Context, dbPath string, not int) (Record, error) {
	for {
		rec, owned := Owned(dbPath)
		if !owned {
			return Record{}, ErrUnowned
		}
		if rec.PID != 0 && rec.PID != not {
			return rec, nil
		}
		select {
		case <-ctx.Done():
			return Record{}, fmt.Errorf("share: waiting for the owner of %s to publish its endpoint: %w", dbPath, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// ErrUnowned is returned by [Find] when no process owns the file.
var ErrUnowned = errors.New("share: no process owns the database")
