package process_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/sys/process"
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
