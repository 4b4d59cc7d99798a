package procctl_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"testing"

	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
)

// TestMemory: on Linux, this process's resident and peak memory, and -1
// for a field /proc does not have; -1 on every other system.
func TestMemory(t *testing.T) {
	rss, peak := procctl.Memory(os.Getpid(), "VmRSS"), procctl.Memory(os.Getpid(), "VmHWM")
	if runtime.GOOS != "linux" {
		if rss != -1 || peak != -1 {
			t.Errorf("Memory off Linux: %d, %d; want -1", rss, peak)
		}
		return
	}
	if rss < 1<<20 || peak < rss {
		t.Errorf("Memory: VmRSS %d, VmHWM %d bytes; want at least 1 MiB and peak ≥ resident", rss, peak)
	}
	if got := procctl.Memory(os.Getpid(), "NoSuchField"); got != -1 {
		t.Errorf("Memory of an unknown field: %d, want -1", got)
	}
}

// TestMain runs the helper of TestInterrupt when asked to: it waits for
// the signals healthsim's commands stop on, as they do, and says so.
func TestMain(m *testing.M) {
	if os.Getenv("PROCCTL_TEST_WAIT_SIGNAL") == "" {
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
	cmd.Env = append(os.Environ(), "PROCCTL_TEST_WAIT_SIGNAL=1")
	procctl.NewGroup(cmd)
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
	if err := procctl.Interrupt(cmd.Process); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() || lines.Text() != "stopped" {
		t.Fatalf("child: %q, want stopped", lines.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child did not exit cleanly: %v", err)
	}
}
