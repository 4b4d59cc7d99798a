package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// server is a running `healthsim serve` process (stdio) with the official
// Go SDK client connected to it.
type server struct {
	cmd     *exec.Cmd
	session *sdk.ClientSession
	log     *tail // the server's stderr, last bytes
}

// startServer runs `binary serve --db db --transport stdio --no-share
// args...` and connects a client to it. The process gets its own process
// group, so a Ctrl-C in the terminal reaches only this program, which then
// stops the servers itself.
func startServer(ctx context.Context, binary, db string, args ...string) (*server, error) {
	log := &tail{max: 64 << 10}
	// Each server opens the file itself (dbx) unless args say --share.
	cmd := exec.Command(binary, append([]string{"serve", "--db", db, "--transport", "stdio", "--no-share"}, args...)...)
	cmd.Env = serverEnv()
	cmd.Stderr = log
	procctl.NewGroup(cmd)
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-stress", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd, TerminateDuration: 5 * time.Second}, nil)
	if err != nil {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		return nil, fmt.Errorf("start healthsim serve: %v; its log:\n%s", err, log)
	}
	return &server{cmd: cmd, session: cs, log: log}, nil
}

// serverEnv is this process's environment without the settings that would
// make a server listen on the network, refuse writes or share (the flags
// say that).
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MCP_TRANSPORT", "HEALTHSIM_HTTP_ADDR", "HEALTHSIM_MCP_TOKEN", "HEALTHSIM_READ_ONLY", "HEALTHSIM_DB_PATH", "HEALTHSIM_SHARE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// PID returns the server's process id.
func (s *server) PID() int { return s.cmd.Process.Pid }

// call calls a tool.
func (s *server) call(ctx context.Context, tool string, args any) (*sdk.CallToolResult, error) {
	return s.session.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
}

// terminate asks the server to stop (SIGTERM, or Ctrl-Break on Windows),
// waits for the process to exit and returns an error unless it exited
// with status 0.
func (s *server) terminate() error {
	sigErr := procctl.Interrupt(s.cmd.Process) // fails if it already exited
	s.session.Close()                          // closes stdin and waits (killed after 5 s)
	if st := s.cmd.ProcessState; st == nil || st.ExitCode() != 0 || sigErr != nil {
		return fmt.Errorf("healthsim serve (PID %d) did not exit cleanly when interrupted (%v, %v); its log:\n%s", s.PID(), st, sigErr, s.log)
	}
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.cmd.Process.Kill()
	s.session.Close()
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
