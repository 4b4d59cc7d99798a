package scripttest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
)

// Server is a `healthsim serve` process spoken to over stdio with minimal
// JSON-RPC: one request at a time, each waiting for its response (tool
// calls over stdio run concurrently in the server).
type Server struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	msgs   chan map[string]any
	stderr *syncbuf.Buffer
	nextID int
	once   sync.Once
}

// StartServer starts `bin serve --db path` and initializes an MCP session.
// The server is stopped at the end of the test.
func StartServer(t testing.TB, bin, path string) *Server {
	t.Helper()
	s := &Server{cmd: exec.Command(bin, "serve", "--db", path), msgs: make(chan map[string]any, 16), stderr: &syncbuf.Buffer{}}
	s.cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop() })
	go func() {
		defer close(s.msgs)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var msg map[string]any
			if json.Unmarshal(sc.Bytes(), &msg) == nil {
				s.msgs <- msg
			}
		}
	}()
	if _, err := s.request("initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "scripttest", "version": "1"}}); err != nil {
		t.Fatalf("initialize: %v\nserver stderr:\n%s", err, s.stderr.String())
	}
	if err := s.send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) send(msg map[string]any) error {
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = s.stdin.Write(append(b, '\n'))
	return err
}

// request sends one request and waits up to 30 s for its response.
func (s *Server) request(method string, params any) (map[string]any, error) {
	s.nextID++
	id := s.nextID
	if err := s.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		return nil, err
	}
	timeout := time.After(30 * time.Second)
	for {
		select {
		case msg, ok := <-s.msgs:
			if !ok {
				return nil, fmt.Errorf("the server closed stdout")
			}
			if got, _ := msg["id"].(float64); int(got) != id {
				continue // a notification or a request from the server
			}
			if e, ok := msg["error"]; ok {
				return nil, fmt.Errorf("error response: %v", e)
			}
			result, _ := msg["result"].(map[string]any)
			return result, nil
		case <-timeout:
			return nil, fmt.Errorf("no response to %s %d after 30 s", method, id)
		}
	}
}

// CallTool calls a tool and returns its structured content, or an error for
// a protocol error or an isError result.
func (s *Server) CallTool(name string, args map[string]any) (map[string]any, error) {
	res, err := s.request("tools/call", map[string]any{"name": name, "arguments": args})
	if err != nil {
		return nil, err
	}
	if isErr, _ := res["isError"].(bool); isErr {
		return nil, fmt.Errorf("tool %s failed: %v", name, res["content"])
	}
	out, _ := res["structuredContent"].(map[string]any)
	return out, nil
}

// Stderr returns what the server logged so far.
func (s *Server) Stderr() string { return s.stderr.String() }

// Stop closes stdin, as a client does on exit, and waits for the server.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.stdin.Close()
		done := make(chan struct{})
		go func() { s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-done
		}
	})
}

// Poll is a client that lists scenarios without pause, each call waiting
// for its answer, until Stop.
type Poll struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	answers []time.Time // when each call was answered
	errs    []error
	slowest time.Duration
}

// StartPoll starts calling healthsim_list_scenarios on s in a loop.
func StartPoll(s *Server) *Poll {
	p := &Poll{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			start := time.Now()
			_, err := s.CallTool("healthsim_list_scenarios", map[string]any{"limit": 5})
			took := time.Since(start)
			p.mu.Lock()
			if err != nil {
				p.errs = append(p.errs, err)
			} else {
				p.answers = append(p.answers, time.Now())
			}
			p.slowest = max(p.slowest, took)
			p.mu.Unlock()
			if err != nil && len(p.errs) > 3 {
				return
			}
		}
	}()
	return p
}

// Answered returns how many calls were answered between from and to.
func (p *Poll) Answered(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, at := range p.answers {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}

// Stop ends the loop and returns the calls answered, the errors and the
// slowest call.
func (p *Poll) Stop() (answered int, errs []error, slowest time.Duration) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.answers), p.errs, p.slowest
}
