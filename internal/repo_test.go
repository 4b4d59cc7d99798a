package internal_test

import (
	"errors"
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
	git := func(args ...string) string {
		var stderr strings.Builder
		cmd := exec.Command("git", append([]string{"-c", "safe.directory=*"}, args...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if errors.Is(err, exec.ErrNotFound) {
			t.Skip("git is not installed")
		} else if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	root = strings.TrimSpace(git("rev-parse", "--show-toplevel"))
	files = strings.Split(strings.TrimSuffix(git("-C", root, "ls-files", "-z"), "\x00"), "\x00")
	return root, files
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
		// Every folder from internal/ down: internal/sys/filelock names
		// sys and filelock.
		_, below, _ := strings.Cut("/"+dir, "/internal/")
		for _, folder := range strings.Split(below, "/") {
			named := regexp.MustCompile("`([^`]*/)?" + regexp.QuoteMeta(folder) + "/?`")
			if !named.MatchString(layout) {
				t.Errorf("CONTRIBUTING.md's layout section does not name %s of %s", folder, dir)
			}
		}
	}
}
