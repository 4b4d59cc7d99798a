package wine_test

import (
	"os"
	"testing"

	"github.com/healthsim/healthsim-go/internal/testsupport/wine"
)

// TestRunning: Wine is detected exactly where .ci/wine runs the tests
// (it sets HEALTHSIM_UNDER_WINE=1), so a native run never skips.
func TestRunning(t *testing.T) {
	if want := os.Getenv("HEALTHSIM_UNDER_WINE") == "1"; wine.Running() != want {
		t.Fatalf("Running() = %v, want %v (HEALTHSIM_UNDER_WINE=%q)", wine.Running(), want, os.Getenv("HEALTHSIM_UNDER_WINE"))
	}
}
