package share_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const initLine = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`

// startOwner makes this process the owner of a new database path and
// serves a bare MCP server on its endpoint until the returned stop is
// called (stop waits until the owner has let the file go).
func startOwner(t *testing.T) (db string, rec share.Record, stop func()) {
	db = filepath.Join(t.TempDir(), "x.duckdb")
	o, ln, rec := publishOwner(t, db)
	srv := &mcp.Server{MCPServer: server.NewMCPServer("t", "1")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = o.Serve(ctx, ln, rec.Token, srv.ServeLines)
		o.Release()
	}()
	stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return db, rec, stop
}

// publishOwner claims db for this process, opens its endpoint and
// publishes it.
func publishOwner(t *testing.T, db string) (*share.Owner, net.Listener, share.Record) {
	o, err := share.Claim(db)
	if err != nil {
		t.Fatal(err)
	}
	ln, rec, err := o.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Publish(rec); err != nil {
		t.Fatal(err)
	}
	return o, ln, rec
}

// client is the stdio side of a bridge under test: what it was sent, and
// the lines it got.
type client struct {
	in    *io.PipeWriter
	lines chan string
	ran   chan error
}

func runBridge(t *testing.T, ctx context.Context, b *share.Bridge, rec share.Record) *client {
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{in: inW, lines: make(chan string, 100), ran: make(chan error, 1)}
	go func() {
		for sc := bufio.NewScanner(outR); sc.Scan(); {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	go func() {
		c.ran <- b.Run(ctx, rec, inR, outW)
		outW.Close()
	}()
	t.Cleanup(func() { inW.Close() })
	return c
}

func (c *client) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

func (c *client) next(t *testing.T) string {
	t.Helper()
	select {
	case line := <-c.lines:
		return line
	case <-time.After(time.Minute):
		t.Fatal("no message from the bridge in a minute")
		return ""
	}
}

// wait returns Run's error, failing if it has not returned within a minute.
func (c *client) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.ran:
		return err
	case <-time.After(time.Minute):
		t.Fatal("the bridge did not stop")
		return nil
	}
}

// TestBridgeIDsAsTheOwnerWritesThem: ids the owner writes back in another
// form (1.0 as 1, "<a>" with escapes) are answered once: the bridge stops
// when its client's input ends, and a failover answers nothing again.
func TestBridgeIDsAsTheOwnerWritesThem(t *testing.T) {
	db, rec, stopOwner := startOwner(t)
	tookOver := make(chan struct{})
	b := &share.Bridge{DBPath: db, TakeOver: func(context.Context, *share.Owner) (share.Record, error) {
		close(tookOver)
		return share.Record{}, errors.New("not in this test")
	}}
	c := runBridge(t, context.Background(), b, rec)
	c.send(t, initLine)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":1.0,"method":"ping"}`)
	c.send(t, `{"jsonrpc":"2.0","id":"<a>","method":"ping"}`)
	c.next(t)
	c.next(t)
	stopOwner()
	<-tookOver // the failover is done: it answered what it found pending
	c.in.Close()
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
	for line := range c.lines {
		t.Errorf("after every request was answered, the client got %s", line)
	}
}

// TestBridgeClientGone: when the owner goes after the client's input has
// ended, the bridge answers the call still pending and stops; it does not
// take the file over.
func TestBridgeClientGone(t *testing.T) {
	db := filepath.Join(t.TempDir(), "x.duckdb")
	o, ln, rec := publishOwner(t, db)
	got, die := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { // an owner that takes the call and never answers it
		defer close(served)
		_ = o.Serve(ctx, ln, rec.Token, func(_ context.Context, in io.Reader, _ io.Writer) error {
			_, _ = bufio.NewReader(in).ReadBytes('\n')
			close(got)
			<-die
			return nil
		})
	}()

	var log syncbuf.Buffer
	b := &share.Bridge{DBPath: db, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		WriteTools: []string{"save"},
		TakeOver: func(context.Context, *share.Owner) (share.Record, error) {
			t.Error("the bridge took the file over after its client had gone")
			return share.Record{}, errors.New("not in this test")
		}}
	c := runBridge(t, context.Background(), b, rec)
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"save"}}`)
	<-got
	c.in.Close()
	if err := log.Await(context.Background(), "input ended"); err != nil {
		t.Fatal(err)
	}
	close(die) // the owner goes, and lets the file go
	cancel()
	<-served
	o.Release()

	if answer := c.next(t); !strings.Contains(answer, `"id":1`) || !strings.Contains(answer, "may or may not have been written") {
		t.Errorf("the pending save was answered %s", answer)
	}
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
}

// TestBridgeStopsWithContext: a bridge stops when its context ends (a
// signal), though its client keeps its input open.
func TestBridgeStopsWithContext(t *testing.T) {
	db, rec, _ := startOwner(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := runBridge(t, ctx, &share.Bridge{DBPath: db}, rec)
	c.send(t, initLine)
	c.next(t)
	cancel()
	if err := c.wait(t); err != nil {
		t.Fatal(err)
	}
}

// TestOwnerRefusesLongHello: the owner reads at most a few KB from a
// connection before it has checked the token.
func TestOwnerRefusesLongHello(t *testing.T) {
	_, rec, _ := startOwner(t)
	conn, err := net.Dial(rec.Network, rec.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Repeat("a", 64<<10))); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	line, err := bufio.NewReader(conn).ReadString('\n')
	var w share.Welcome
	if err != nil || json.Unmarshal([]byte(line), &w) != nil || w.Error != "the hello line is too long" {
		t.Fatalf("the owner answered %q (%v), want a refusal", line, err)
	}
}
