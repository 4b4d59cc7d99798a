// The homes under internal/ keep the rules CONTRIBUTING.md gives them
// ("How the code is laid out"), checked on the import graph go list
// reports (non-test imports, so what programs and packages link).
package internal_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/healthsim/healthsim-go"

// The homes, as import path prefixes.
const (
	sys          = module + "/internal/sys/"          // primitives
	testSupport  = module + "/internal/testsupport/"  // imports testing; only tests link it
	benchSupport = module + "/internal/benchsupport/" // tests, benchmarks and the load programs
	scriptTest   = module + "/scripts/internal/scripttest"
)

// benchPrograms are the programs that may link benchsupport: the sharing
// benchmark and the stress load.
var benchPrograms = []string{module + "/scripts/bench", module + "/scripts/stress"}

func TestLayout(t *testing.T) {
	var stderr strings.Builder
	list := exec.Command("go", "list", "-f", `{{.ImportPath}} {{.Name}} {{join .Deps " "}}`, module+"/...")
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	under := func(path, home string) bool {
		return strings.HasPrefix(path, home) || path == strings.TrimSuffix(home, "/")
	}
	support := func(path string) bool {
		return under(path, testSupport) || under(path, benchSupport) || under(path, scriptTest)
	}
	found := map[string]int{}
	for line := range strings.Lines(strings.TrimSpace(string(out))) {
		fields := strings.Fields(line)
		pkg, name, deps := fields[0], fields[1], fields[2:]
		for _, home := range []string{sys, testSupport, benchSupport} {
			if under(pkg, home) {
				found[home]++
			}
		}
		if name == "main" {
			found["main"]++
		}
		for _, dep := range deps {
			switch {
			case name == "main" && (dep == "testing" || under(dep, testSupport) || under(dep, scriptTest)):
				t.Errorf("program %s links %s: test support is for _test.go files", pkg, dep)
			case name == "main" && under(dep, benchSupport) && !slices.Contains(benchPrograms, pkg):
				t.Errorf("program %s links %s: only %v may", pkg, dep, benchPrograms)
			case under(pkg, benchSupport) && (dep == "testing" || under(dep, testSupport)):
				t.Errorf("%s links %s: the load programs link benchsupport", pkg, dep)
			case name != "main" && !support(pkg) && support(dep):
				t.Errorf("package %s links %s: support is for tests and the load programs", pkg, dep)
			case under(pkg, sys) && strings.HasPrefix(dep, module+"/"):
				t.Errorf("primitive %s links %s: primitives build on no package of this module", pkg, dep)
			}
		}
	}
	// Nothing above holds vacuously: every home and the programs are there.
	for _, k := range []string{sys, testSupport, benchSupport, "main"} {
		if found[k] == 0 {
			t.Errorf("go list found no package of %q", k)
		}
	}
}
