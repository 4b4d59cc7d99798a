package internal_test

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
)

// repoFiles returns the files git tracks in the repository, relative to
// its root, and the root.
func repoFiles(t *testing.T) (root string, files []string) {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	root = strings.TrimSpace(string(out))
	out, err = exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Fatal(err)
	}
	return root, strings.Fields(string(out))
}

// outside matches words that point at documents outside the repository:
// the tracker's issues, and the notes the project started from.
var outside = regexp.MustCompile(`(?i)\bthe issue\b|\bissue #?\d+|\bdesign notes\b|DESIGN\.md|CONVENTIONS\.md|\.\./shared/`)

// TestNoReferencesOutside: code and docs refer only to what is in the
// repository (CONTRIBUTING.md's house rules).
func TestNoReferencesOutside(t *testing.T) {
	root, files := repoFiles(t)
	checked := 0
	for _, file := range files {
		switch path.Ext(file) {
		case ".go", ".md", ".ts", ".mjs", ".js", ".sh", ".yml", ".yaml", ".json":
		default:
			if !strings.HasPrefix(file, ".ci/") {
				continue
			}
		}
		if strings.HasSuffix(file, "package-lock.json") {
			continue
		}
		text, err := os.ReadFile(path.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for i, line := range strings.Split(string(text), "\n") {
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s:%d refers outside the repository (%q): %s", file, i+1, m, strings.TrimSpace(line))
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked only %d files", checked)
	}
}

// TestContributingNamesEveryPackage: CONTRIBUTING.md's layout section
// names every package under an internal/ folder, so that it matches the
// tree.
func TestContributingNamesEveryPackage(t *testing.T) {
	root, files := repoFiles(t)
	contributing, err := os.ReadFile(path.Join(root, "CONTRIBUTING.md"))
	if err != nil {
		t.Fatal(err)
	}
	layout, _, _ := strings.Cut(string(contributing), "## Running the tests")
	packages := map[string]bool{}
	for _, file := range files {
		if dir := path.Dir(file); strings.HasSuffix(file, ".go") && strings.Contains("/"+dir, "/internal/") {
			packages[dir] = true
		}
	}
	if len(packages) < 5 {
		t.Fatalf("found only %d internal packages", len(packages))
	}
	for dir := range packages {
		named := regexp.MustCompile("`([^`]*/)?" + regexp.QuoteMeta(path.Base(dir)) + "/?`")
		if !named.MatchString(layout) {
			t.Errorf("CONTRIBUTING.md's layout section does not name %s", dir)
		}
	}
}
