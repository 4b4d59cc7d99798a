package archive_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/scenario/archive"
)

// record returns a scenario whose text and JSON need care in every format:
// quotes, commas, line breaks, non-ASCII, HTML characters, JSON that is not
// compact (kept byte for byte), and JSON Go would call invalid.
func record(name string) *scenario.Record {
	at := time.Date(2024, 2, 29, 23, 59, 58, 999999000, time.UTC)
	return &scenario.Record{ID: "id-" + name, Name: name, Description: "a \"quoted\", multi-line\ndescription — ünïcode",
		Tags: []string{"alpha", "b,c"}, CreatedAt: at, UpdatedAt: at.Add(time.Microsecond),
		Entities: []scenario.EntityRecord{
			{Type: "patients", ID: "p1", Data: json.RawMessage(`{"id":"p1","name":"Zoë <&>","n":1.50}`)},
			{Type: "patients", ID: "p,2", Data: json.RawMessage("{\n  \"id\": \"p,2\",\n  \"lines\": [\"a\", \"b\"]\n}")},
			{Type: "encounters", ID: "e1", Data: json.RawMessage(` {"encounter_id": "e1"} `)},
			{Type: "claims", ID: "c1", Data: json.RawMessage(`{"claim_id":"c1","x":NaN}`)},
		}}
}

func TestRoundTripEveryFormat(t *testing.T) {
	ctx := context.Background()
	for _, format := range archive.Formats() {
		t.Run(string(format), func(t *testing.T) {
			dir := t.TempDir()
			w, err := archive.NewWriter(dir, format)
			if err != nil {
				t.Fatal(err)
			}
			empty := &scenario.Record{ID: "e", Name: "empty/one", Tags: []string{}, Entities: []scenario.EntityRecord{},
				CreatedAt: time.Unix(0, 0).UTC(), UpdatedAt: time.Unix(0, 0).UTC()}
			for _, rec := range []*scenario.Record{record("First Scenario"), empty} {
				if _, err := w.Write(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			folders, err := archive.List(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(folders) != 2 || filepath.Base(folders[0].Path) != "empty-one" || filepath.Base(folders[1].Path) != "first-scenario" || folders[0].Format != format {
				t.Fatalf("folders: %+v", folders)
			}
			r := archive.NewReader()
			defer r.Close()
			for i, want := range []*scenario.Record{empty, record("First Scenario")} {
				got, err := r.Read(ctx, folders[i])
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("read back:\n got %+v\nwant %+v", got, want)
				}
			}
			// The scenario folder itself can be listed too.
			if one, err := archive.List(folders[1].Path, format); err != nil || len(one) != 1 || one[0].Path != folders[1].Path {
				t.Fatalf("List of a scenario folder: %+v, %v", one, err)
			}
		})
	}
}

func TestFolders(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(format archive.Format, rec *scenario.Record) string {
		t.Helper()
		w, err := archive.NewWriter(dir, format)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		path, err := w.Write(ctx, rec)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Base(path)
	}
	// Names that make the same folder name get suffixes, across runs too;
	// the same scenario exported again goes to its folder.
	if got := write(archive.JSONL, record("a b")); got != "a-b" {
		t.Fatalf("first folder: %s", got)
	}
	if got := write(archive.Parquet, record("A?B")); got != "a-b-2" {
		t.Fatalf("clashing name: %s", got)
	}
	if got := write(archive.CSV, record("a b")); got != "a-b" {
		t.Fatalf("the same scenario again: %s", got)
	}
	if got := write(archive.JSONL, record("A?B")); got != "a-b-2" {
		t.Fatalf("the second scenario again: %s", got)
	}
	// Each folder holds one format: the older files went.
	folders, err := archive.List(dir, "")
	if err != nil || len(folders) != 2 || folders[0].Format != archive.CSV || folders[1].Format != archive.JSONL {
		t.Fatalf("List: %+v, %v", folders, err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a-b"))
	if len(entries) != 2 {
		t.Fatalf("a-b holds %d files", len(entries))
	}

	// A folder with two formats is ambiguous unless a format is chosen.
	os.WriteFile(filepath.Join(dir, "a-b", "scenarios.jsonl"), []byte("{}\n"), 0o644)
	if _, err := archive.List(dir, ""); err == nil || !strings.Contains(err.Error(), "several formats") {
		t.Fatalf("two formats in a folder: %v", err)
	}
	if folders, err := archive.List(dir, archive.CSV); err != nil || len(folders) != 1 {
		t.Fatalf("List of csv only: %+v, %v", folders, err)
	}
}

func TestCSVRefusesCRLF(t *testing.T) {
	rec := record("crlf")
	rec.Description = "windows\r\nline"
	w, err := archive.NewWriter(t.TempDir(), archive.CSV)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(context.Background(), rec); err == nil || !strings.Contains(err.Error(), "export it as jsonl or parquet") {
		t.Fatalf("CSV with CR LF: %v", err)
	}
}

func TestProtectedFiles(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	// A database that happens to sit where an export file goes.
	db := filepath.Join(dir, "x", "entities.jsonl")
	os.MkdirAll(filepath.Dir(db), 0o755)
	os.WriteFile(db, []byte("precious"), 0o644)
	os.WriteFile(filepath.Join(dir, "x", "scenarios.jsonl"), []byte(`{"id":"i","name":"x","description":"","tags":[],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}`+"\n"), 0o644)
	w, _ := archive.NewWriter(dir, archive.JSONL, db)
	defer w.Close()
	if _, err := w.Write(ctx, record("x")); err == nil || !strings.Contains(err.Error(), "database's own files") {
		t.Fatalf("write over a protected file: %v", err)
	}
	if b, _ := os.ReadFile(db); string(b) != "precious" {
		t.Fatal("the protected file changed")
	}
	r := archive.NewReader(db)
	defer r.Close()
	_, err := r.Read(ctx, archive.Folder{Path: filepath.Join(dir, "x"), Format: archive.JSONL})
	if err == nil || !strings.Contains(err.Error(), "database's own files") {
		t.Fatalf("read of a protected file: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	r := archive.NewReader()
	defer r.Close()
	for _, tc := range []struct {
		name, scenarios, entities string
		format                    archive.Format
		want                      string
	}{
		{"two scenarios", `{"id":"a","name":"a","description":"","tags":[],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}` + "\n" +
			`{"id":"b","name":"b","description":"","tags":[],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}`, "", archive.JSONL, "more than one"},
		{"bad time", `{"id":"a","name":"a","description":"","tags":[],"created_at":"yesterday","updated_at":"2024-01-01T00:00:00Z"}`, "", archive.JSONL, "created_at"},
		{"both data fields", `{"id":"a","name":"a","description":"","tags":[],"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}`,
			`{"entity_type":"patients","entity_id":"p","entity_data":{},"entity_data_text":"{}"}`, archive.JSONL, "either entity_data or entity_data_text"},
		{"csv header", "id,name\n", "", archive.CSV, "the header"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "scenarios."+string(tc.format)), []byte(tc.scenarios), 0o644)
		os.WriteFile(filepath.Join(dir, "entities."+string(tc.format)), []byte(tc.entities), 0o644)
		_, err := r.Read(ctx, archive.Folder{Path: dir, Format: tc.format})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	if _, err := archive.List(filepath.Join(t.TempDir(), "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("List of a missing folder: %v", err)
	}
}
