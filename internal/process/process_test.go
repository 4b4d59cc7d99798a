package process_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/process"
	"github.com/healthsim/healthsim-go/internal/wine"
)

func TestExe(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := process.Exe(os.Getpid()); filepath.Base(got) != filepath.Base(self) {
		t.Errorf("Exe(own PID) = %q, want the test binary %q", got, self)
	}
	if got := process.Exe(0); got != "" {
		t.Errorf("Exe(0) = %q, want \"\"", got)
	}
	// A process that has exited is not named, once the system has let go
	// of it (Wine keeps it for about half a second after it is reaped).
	cmd := exec.Command(self, "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := process.Exe(cmd.Process.Pid)
		if got == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Exe(exited PID %d) = %q 10 s after it exited, want \"\"", cmd.Process.Pid, got)
		}
	}
}

// TestMain runs the helper of TestInterrupt when asked to: it waits for
// the signals healthsim's commands stop on, as they do, and says so.
func TestMemory(t *testing.T) {
	rss, peak := process.Memory(os.Getpid(), "VmRSS"), process.Memory(os.Getpid(), "VmHWM")
	if runtime.GOOS != "linux" {
		if rss != -1 || peak != -1 {
			t.Errorf("Memory off Linux: %d, %d; want -1", rss, peak)
		}
		return
	}
	if rss < 1<<20 || peak < rss {
		t.Errorf("Memory: VmRSS %d, VmHWM %d bytes; want at least 1 MiB and peak ≥ resident", rss, peak)
	}
	if got := process.Memory(os.Getpid(), "NoSuchField"); got != -1 {
		t.Errorf("Memory of an unknown field: %d, want -1", got)
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("PROCESS_TEST_WAIT_SIGNAL") == "" {
		os.Exit(m.Run())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	fmt.Println("stopped")
}

// TestInterrupt: a child in its own group stops cleanly when interrupted.
func TestInterrupt(t *testing.T) {
	wine.Skip(t, wine.CtrlBreak)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCESS_TEST_WAIT_SIGNAL=1")
	process.NewGroup(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("child: %q, want ready", lines.Text())
	}
	if err := process.Interrupt(cmd.Process); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() || lines.Text() != "stopped" {
		t.Fatalf("child: %q, want stopped", lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child did not exit cleanly: %v", err)
	}
}
