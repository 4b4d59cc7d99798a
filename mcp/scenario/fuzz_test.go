package scenario_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/migrations"
)

// saveArgs are healthsim_save_scenario's arguments, decoded the way the
// tool decodes them (mcp/scenarios.go).
type saveArgs struct {
	Name        string                      `json:"name"`
	Entities    map[string][]map[string]any `json:"entities"`
	Description string                      `json:"description"`
	Tags        []string                    `json:"tags"`
	Overwrite   bool                        `json:"overwrite"`
}

// FuzzSaveRequest feeds arbitrary JSON, decoded as the save tool's
// arguments, to Save on a real database. Save never panics; it fails with a
// *input.Error or ErrExists and changes nothing, or it succeeds and
// Load returns every entity byte for byte as encoding/json encodes it, in
// the order given. Seeds live in testdata/fuzz/FuzzSaveRequest.
func FuzzSaveRequest(f *testing.F) {
	f.Add([]byte(`{"name": "seed", "entities": {"patients": [{"id": "p1", "given_name": "Ana", "birth_date": "1980-02-29"}]}}`))
	dir := f.TempDir()
	var (
		once    sync.Once
		db      *dbx.DB
		store   *scenario.Store
		openErr error
	)
	f.Cleanup(func() {
		if db != nil {
			db.Close()
		}
	})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		// One database per fuzzing process, opened on its first input.
		once.Do(func() {
			db, openErr = dbx.Open(ctx, filepath.Join(dir, "fuzz.duckdb"))
			if openErr == nil {
				_, openErr = migrations.Up(ctx, db)
			}
			store = scenario.New(db)
		})
		if openErr != nil {
			t.Fatal(openErr)
		}
		var args saveArgs
		if err := json.Unmarshal(data, &args); err != nil {
			return // the tool answers that the arguments could not be read
		}
		before := fuzzCounts(t, db)
		res, err := store.Save(ctx, scenario.SaveRequest{
			Name: args.Name, Description: args.Description, Tags: args.Tags,
			Entities: args.Entities, Overwrite: args.Overwrite,
		})
		if err != nil {
			var invalid *input.Error
			if !errors.As(err, &invalid) && !errors.Is(err, scenario.ErrExists) {
				t.Fatalf("Save(%s) failed with neither a input.Error nor ErrExists: %v", data, err)
			}
			if after := fuzzCounts(t, db); after != before {
				t.Fatalf("a refused save changed the database: %s -> %s (%v)", before, after, err)
			}
			return
		}

		// What Save must have stored: each object as encoding/json encodes
		// it, per canonical type, in the order of the sorted type keys.
		want := map[string][]string{}
		keys := slices.Sorted(maps.Keys(args.Entities))
		total := 0
		for _, key := range keys {
			table, ok := scenario.CanonicalType(key)
			if !ok {
				t.Fatalf("Save accepted the unknown type %q", key)
			}
			for _, obj := range args.Entities[key] {
				doc, err := json.Marshal(obj)
				if err != nil {
					t.Fatalf("Save accepted an entity encoding/json cannot encode: %v", err)
				}
				want[table] = append(want[table], string(doc))
				total++
			}
		}
		if res.TotalEntities != total {
			t.Fatalf("SaveResult.TotalEntities = %d, want %d", res.TotalEntities, total)
		}
		sc, err := store.Load(ctx, res.ID, true)
		if err != nil {
			t.Fatalf("Load(%s) after a successful save of %s: %v", res.ID, data, err)
		}
		if sc.Name != res.Name || sc.Name != strings.TrimSpace(args.Name) {
			t.Fatalf("name saved as %q, loaded as %q, given %q", res.Name, sc.Name, args.Name)
		}
		if sc.Description != args.Description {
			t.Fatalf("description saved as %q, loaded as %q", args.Description, sc.Description)
		}
		if sc.TotalEntities != total {
			t.Fatalf("loaded %d entities, saved %d", sc.TotalEntities, total)
		}
		for table, docs := range want {
			got := sc.Entities[table]
			if len(got) != len(docs) {
				t.Fatalf("%s: loaded %d entities, saved %d", table, len(got), len(docs))
			}
			for i := range docs {
				if string(got[i]) != docs[i] {
					t.Fatalf("%s[%d] changed:\nsaved  %s\nloaded %s", table, i, docs[i], got[i])
				}
			}
		}
		for table := range sc.Entities {
			if _, ok := want[table]; !ok {
				t.Fatalf("loaded %s entities that were not saved", table)
			}
		}
	})
}

// fuzzCounts counts the rows of every table a save writes, in one query.
func fuzzCounts(t *testing.T, db *dbx.DB) string {
	t.Helper()
	var parts []string
	for _, table := range append([]string{"scenarios", "scenario_tags", "scenario_entities"}, scenario.EntityTypes()...) {
		parts = append(parts, fmt.Sprintf("(SELECT count(*) FROM %s)::VARCHAR", table))
	}
	var s string
	if err := db.Read().Get(&s, "SELECT concat_ws(',', "+strings.Join(parts, ", ")+")"); err != nil {
		t.Fatal(err)
	}
	return s
}
