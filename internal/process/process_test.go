package process_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/healthsim/healthsim-go/internal/process"
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
	// A process that has exited is not named.
	cmd := exec.Command(self, "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got := process.Exe(cmd.Process.Pid); got != "" {
		t.Errorf("Exe(exited PID %d) = %q, want \"\"", cmd.Process.Pid, got)
	}
}
