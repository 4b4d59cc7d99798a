// Package wine tells tests whether this Windows program runs under Wine,
// and skips the few that test a Windows feature Wine does not have. The
// Windows test binaries run under Wine in CI (.ci/wine); docs/platforms.md
// lists what Wine cannot show.
package wine

import "testing"

// The Windows features Wine lacks that tests rely on. Skips name one of
// these and nothing else: a test is never skipped for being slow or flaky.
const (
	// HolderPIDs: on Windows, DuckDB and `healthsim locks` name the
	// processes that hold a file from the Restart Manager.
	HolderPIDs = "holder PIDs from the Restart Manager (Wine's is a stub that finds nobody)"
	// CtrlBreak: Windows' way to ask a console program to stop.
	CtrlBreak = "Ctrl-Break to a process group (Wine's GenerateConsoleCtrlEvent fails)"
)

// Running reports whether this process runs under Wine.
func Running() bool { return running() }

// Skip skips t when it runs under Wine, which lacks feature (one of the
// constants above).
func Skip(t testing.TB, feature string) {
	t.Helper()
	if Running() {
		t.Skipf("under Wine, which lacks %s", feature)
	}
}

// Run runs check as the subtest name of t, which skips under Wine, which
// lacks feature: the part of a test that needs it, while the rest of the
// test runs everywhere. It returns t.Run's result.
func Run(t *testing.T, name, feature string, check func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		Skip(t, feature)
		check(t)
	})
}
