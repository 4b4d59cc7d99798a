// Package share lets the `healthsim serve` processes of one database file
// share one server. The first to claim the file becomes its owner: it
// serves MCP on a private endpoint, recorded beside the database (PATH +
// [Suffix]) with a random token. Each later one becomes a bridge that
// forwards its client's messages to the owner and never opens the
// database. The claim is a lock on the record file, so it dies with its
// process, and a bridge that finds the owner gone claims the file itself
// (see [Bridge]).
//
// On the endpoint, each connection starts with a [Hello] line; the owner
// answers with one line ([Welcome]), and then, for a bridge, the
// connection carries the client's MCP session as newline-delimited
// JSON-RPC, exactly as stdio does. A bridge's connection is also how the
// owner counts its bridges, and how a bridge learns at once that the owner
// is gone.
package share

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/sys/filelock"
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
	Token   string `json:"token"`   // sent in each connection's Hello
}

// Owner is this process's claim on a database file.
type Owner struct {
	f       *os.File // the record, locked exclusively while this process owns the file
	dir     string   // the endpoint's private directory, if any
	bridges atomic.Int64
}

// Hello is the first line of every connection to an owner.
type Hello struct {
	Token string `json:"token"`
	PID   int    `json:"pid"`  // the bridge's: an owner does not count its own
	Want  string `json:"want"` // "mcp" (a bridge's session) or "status"
}

// Welcome is the owner's answer to a Hello: an error, the Status, or
// neither, and then the MCP session.
type Welcome struct {
	Error  string  `json:"error,omitempty"`
	Status *Status `json:"status,omitempty"`
}

// Status is what an owner says of itself.
type Status struct {
	PID     int `json:"pid"`
	Bridges int `json:"bridges"`
}

// helloTimeout bounds the wait for a connection's Hello and for the
// owner's Welcome; maxHello bounds a Hello's length (before its token is
// checked).
const (
	helloTimeout = 10 * time.Second
	maxHello     = 4096
)

// Serve accepts connections on ln until ctx ends, pausing (up to 1 s)
// after a failed accept. Each must start with a Hello carrying token; a
// bridge's session then runs through serve (one MCP session per
// connection, until the connection ends or ctx does). Serve closes ln and
// returns once every connection has ended.
func (o *Owner) Serve(ctx context.Context, ln net.Listener, token string, serve func(ctx context.Context, in io.Reader, out io.Writer) error) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var conns sync.WaitGroup
	defer conns.Wait()
	pause := time.Duration(0) // after a failed accept (out of file descriptors, say)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("share: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
			continue
		}
		pause = 0
		conns.Go(func() {
			defer conn.Close()
			o.serveConn(ctx, conn, token, serve)
		})
	}
}

func (o *Owner) serveConn(ctx context.Context, conn net.Conn, token string, serve func(ctx context.Context, in io.Reader, out io.Writer) error) {
	welcome := func(w Welcome) error {
		b, _ := json.Marshal(w)
		_, err := conn.Write(append(b, '\n'))
		return err
	}
	r := bufio.NewReaderSize(conn, maxHello)
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	line, err := r.ReadSlice('\n') // a Hello is far shorter than the buffer
	if errors.Is(err, bufio.ErrBufferFull) {
		_ = welcome(Welcome{Error: "the hello line is too long"})
		return
	}
	var hello Hello
	if err != nil || json.Unmarshal(line, &hello) != nil {
		return
	}
	if subtle.ConstantTimeCompare([]byte(hello.Token), []byte(token)) != 1 {
		_ = welcome(Welcome{Error: "wrong token: read it from the record file beside the database"})
		return
	}
	switch hello.Want {
	case "status":
		_ = welcome(Welcome{Status: &Status{PID: os.Getpid(), Bridges: int(o.bridges.Load())}})
		return
	case "mcp":
	default:
		_ = welcome(Welcome{Error: fmt.Sprintf("unknown request %q", hello.Want)})
		return
	}
	if welcome(Welcome{}) != nil {
		return
	}
	_ = conn.SetDeadline(time.Time{})
	if hello.PID != os.Getpid() { // a bridge that took ownership: not counted
		o.bridges.Add(1)
		defer o.bridges.Add(-1)
	}
	_ = serve(ctx, r, conn)
}

// dial connects to the owner at rec and says hello; it returns the
// connection, its reader, and the owner's Welcome.
func (rec Record) dial(ctx context.Context, want string) (net.Conn, *bufio.Reader, Welcome, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, rec.Network, rec.Address)
	if err != nil {
		return nil, nil, Welcome{}, err
	}
	fail := func(err error) (net.Conn, *bufio.Reader, Welcome, error) {
		conn.Close()
		return nil, nil, Welcome{}, err
	}
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	b, _ := json.Marshal(Hello{Token: rec.Token, PID: os.Getpid(), Want: want})
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return fail(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("the owner (PID %d) did not answer: %w", rec.PID, err))
	}
	var w Welcome
	if err := json.Unmarshal(line, &w); err != nil {
		return fail(fmt.Errorf("the owner (PID %d) answered %q: %w", rec.PID, line, err))
	}
	if w.Error != "" {
		return fail(fmt.Errorf("the owner (PID %d) refused: %s", rec.PID, w.Error))
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, r, w, nil
}

// Status asks the owner at rec how many bridges it serves.
func (rec Record) Status(ctx context.Context) (Status, error) {
	conn, _, w, err := rec.dial(ctx, "status")
	if err != nil {
		return Status{}, err
	}
	conn.Close()
	if w.Status == nil {
		return Status{}, errors.New("the owner sent no status")
	}
	return *w.Status, nil
}

// Claim makes this process the owner of the database at dbPath, or fails
// with ErrOwned if another process is. It removes what an owner killed
// before it could release the file left behind (its endpoint's directory).
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
	var stale Record
	if b, err := io.ReadAll(f); err == nil && json.Unmarshal(b, &stale) == nil {
		removeEndpoint(stale)
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
