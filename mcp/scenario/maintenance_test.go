package scenario_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/jmoiron/sqlx"
)

// prettyRecord has entity JSON that encoding/json would not write: it must
// come back byte for byte anyway.
func prettyRecord(name string) *scenario.Record {
	at := time.Date(2023, 5, 6, 7, 8, 9, 123456000, time.UTC)
	return &scenario.Record{ID: "id-" + name, Name: name, Description: "two\nlines", Tags: []string{"b", "a"},
		CreatedAt: at, UpdatedAt: at.Add(time.Hour),
		Entities: []scenario.EntityRecord{
			{Type: "patients", ID: "p2", Data: json.RawMessage("{\n  \"id\": \"p2\", \"weight\": 1.50, \"birth_date\": \"1970-01-02\"\n}")},
			{Type: "patient", ID: "p1", Data: json.RawMessage(`{"id" : "p1", "x": "<&>\u00e9"}`)},
			{Type: "encounters", ID: "e1", Data: json.RawMessage(`{"encounter_id":"e1","patient_mrn":"m1"}`)},
		}}
}

func TestFindAndPrune(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		tags []string
	}{{"old tagged", []string{"demo"}}, {"old plain", nil}, {"new tagged", []string{"demo"}}} {
		if _, err := store.Save(ctx, scenario.SaveRequest{Name: tc.name, Tags: tc.tags,
			Entities: map[string][]map[string]any{"patients": samplePatients(3, tc.name)}}); err != nil {
			t.Fatal(err)
		}
	}
	// Age the two "old" scenarios by ten days.
	if err := db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.Exec(`UPDATE scenarios SET updated_at = updated_at - INTERVAL 10 DAY WHERE name LIKE 'old%'`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	names := func(list []scenario.ListEntry) []string {
		var out []string
		for _, e := range list {
			out = append(out, e.Name)
		}
		slices.Sort(out)
		return out
	}
	week := scenario.Filter{UpdatedBefore: time.Now().Add(-7 * 24 * time.Hour)}
	for _, tc := range []struct {
		f    scenario.Filter
		want []string
	}{
		{scenario.Filter{}, []string{"new tagged", "old plain", "old tagged"}},
		{week, []string{"old plain", "old tagged"}},
		{scenario.Filter{Tag: " DEMO "}, []string{"new tagged", "old tagged"}},
		{scenario.Filter{Tag: "demo", UpdatedBefore: week.UpdatedBefore}, []string{"old tagged"}},
	} {
		got, err := store.Find(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), tc.want) {
			t.Errorf("Find(%+v) = %v, want %v", tc.f, names(got), tc.want)
		}
	}

	if _, err := store.Prune(ctx, []string{"x"}, scenario.Filter{}); err == nil {
		t.Fatal("Prune with a zero filter deleted unconditionally")
	}
	old, _ := store.Find(ctx, week)
	// "old plain" is saved again after it was listed: Prune keeps it.
	if _, err := store.Save(ctx, scenario.SaveRequest{Name: "old plain", Overwrite: true,
		Entities: map[string][]map[string]any{"patients": samplePatients(1, "again")}}); err != nil {
		t.Fatal(err)
	}
	ids := []string{old[0].ID, old[1].ID, old[0].ID, "no-such-id"}
	res, err := store.Prune(ctx, ids, week)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "old tagged" || res[0].Entities != 3 || res[0].Tags != 1 || res[0].Rows["patients"] != 3 {
		t.Fatalf("Prune: %+v", res)
	}
	if left, _ := store.Find(ctx, scenario.Filter{}); !slices.Equal(names(left), []string{"new tagged", "old plain"}) {
		t.Fatalf("left after prune: %v", names(left))
	}
	if r := rowCounts(t, db); r["patients"] != 4 || r["scenario_entities"] != 4 || r["scenario_tags"] != 1 {
		t.Fatalf("rows after prune: %v", r)
	}
}

func TestExportImportByteForByte(t *testing.T) {
	_, src := newStore(t)
	ctx := context.Background()
	if _, err := src.Save(ctx, scenario.SaveRequest{Name: "saved", Tags: []string{"x"},
		Entities: map[string][]map[string]any{"patients": samplePatients(5, "s")}}); err != nil {
		t.Fatal(err)
	}
	res, err := src.Import(ctx, []*scenario.Record{prettyRecord("pretty")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != scenario.ImportCreate || res[0].ID != "id-pretty" || res[0].Entities != 3 {
		t.Fatalf("import into the source: %+v", res)
	}

	dstDB, dst := newStore(t)
	var recs []*scenario.Record
	for _, name := range []string{"pretty", "saved"} {
		rec, err := src.Export(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if recs[0].Entities[0].Type != "encounters" || string(recs[0].Entities[1].Data) != "{\n  \"id\": \"p2\", \"weight\": 1.50, \"birth_date\": \"1970-01-02\"\n}" {
		t.Fatalf("export of the pretty scenario: %+v", recs[0].Entities)
	}
	plan, err := dst.PlanImport(ctx, recs, false)
	if err != nil || plan[0].Outcome != scenario.ImportCreate || plan[1].Outcome != scenario.ImportCreate {
		t.Fatalf("plan into an empty database: %+v, %v", plan, err)
	}
	if _, err := dst.Import(ctx, recs, false); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		want, _ := src.Load(ctx, rec.Name, true)
		got, err := dst.Load(ctx, rec.Name, true)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != want.ID || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) ||
			got.Description != want.Description || !slices.Equal(got.Tags, want.Tags) || !maps.Equal(got.EntityCounts, want.EntityCounts) {
			t.Fatalf("%s: header differs:\n got %+v\nwant %+v", rec.Name, got.Overview, want.Overview)
		}
		for typ, docs := range want.Entities {
			if !slices.EqualFunc(got.Entities[typ], docs, func(a, b json.RawMessage) bool { return string(a) == string(b) }) {
				t.Fatalf("%s %s: entity JSON differs:\n got %s\nwant %s", rec.Name, typ, got.Entities[typ], docs)
			}
		}
	}
	// Canonical rows are derived as Save derives them.
	var weight string
	if err := dstDB.Read().Get(&weight, `SELECT birth_date::VARCHAR FROM patients WHERE id = 'p2'`); err != nil || weight != "1970-01-02" {
		t.Fatalf("canonical row of an imported entity: %q, %v", weight, err)
	}

	// Importing again changes nothing.
	before := rowCounts(t, dstDB)
	again, err := dst.Import(ctx, recs, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Outcome != scenario.ImportUnchanged {
			t.Fatalf("second import: %+v", again)
		}
	}
	assertUnchanged(t, dstDB, before)

	// Other content under the same name: a conflict, unless overwrite.
	changed := prettyRecord("pretty")
	changed.Entities = changed.Entities[:2]
	changed.Description = "changed"
	if plan, _ := dst.PlanImport(ctx, []*scenario.Record{changed}, false); plan[0].Outcome != scenario.ImportConflict {
		t.Fatalf("plan of a changed scenario: %+v", plan)
	}
	if _, err := dst.Import(ctx, []*scenario.Record{recs[1], changed}, false); !errors.Is(err, scenario.ErrExists) {
		t.Fatalf("import of a changed scenario: %v", err)
	}
	assertUnchanged(t, dstDB, before) // the whole batch rolled back
	res, err = dst.Import(ctx, []*scenario.Record{changed}, true)
	if err != nil || res[0].Outcome != scenario.ImportReplace || res[0].ID != "id-pretty" {
		t.Fatalf("overwrite: %+v, %v", res, err)
	}
	if got, _ := dst.Load(ctx, "pretty", true); got.Description != "changed" || got.TotalEntities != 2 {
		t.Fatalf("after overwrite: %+v", got.Overview)
	}
}

func TestImportRefusesBadRecords(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	good := prettyRecord("good")
	for _, tc := range []struct {
		name  string
		edit  func(r *scenario.Record)
		field string
	}{
		{"no name", func(r *scenario.Record) { r.Name = "  " }, "name"},
		{"unknown type", func(r *scenario.Record) { r.Entities[0].Type = "spaceships" }, "entities[0].entity_type"},
		{"no id", func(r *scenario.Record) { r.Entities[0].ID = "" }, "entities[0].entity_id"},
		{"duplicate id", func(r *scenario.Record) { r.Entities[1].ID = "p2" }, "entities[1].entity_id"},
		{"not an object", func(r *scenario.Record) { r.Entities[2].Data = json.RawMessage(`[1]`) }, "entities[2].entity_data"},
		{"bad value", func(r *scenario.Record) {
			r.Entities[0].Data = json.RawMessage(`{"id":"p2","birth_date":"not a date"}`)
		}, "entities.patients[0].birth_date"},
	} {
		rec := prettyRecord("bad")
		tc.edit(rec)
		_, err := store.Import(ctx, []*scenario.Record{good, rec}, false)
		var ve *input.Error
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	if r := rowCounts(t, db); r["scenarios"] != 0 || r["patients"] != 0 {
		t.Fatalf("a refused import wrote rows: %v", r)
	}
	if _, err := store.Import(ctx, []*scenario.Record{good, prettyRecord("good")}, false); err == nil {
		t.Fatal("the same name twice in one import was accepted")
	}
}

func TestCheckIntegrity(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	if _, err := store.Save(ctx, scenario.SaveRequest{Name: "fine", Tags: []string{"t"},
		Entities: map[string][]map[string]any{"patients": samplePatients(4, "f"),
			"encounters": {{"encounter_id": "e1"}}, "claims": {{"claim_id": 7}}}}); err != nil {
		t.Fatal(err)
	}
	// A patient identified by patient_id has no id column to match: only
	// the count check covers it, and it must not be reported.
	if _, err := store.Save(ctx, scenario.SaveRequest{Name: "by patient_id",
		Entities: map[string][]map[string]any{"patients": {{"patient_id": "x1", "mrn": "m1"}, {"id": "  p9 "}}}}); err != nil {
		t.Fatal(err)
	}
	report, err := store.CheckIntegrity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Problems() != 0 {
		t.Fatalf("a consistent database has problems: %+v", report)
	}
	if report.Scenarios != 2 || report.Types[0] != (scenario.TypeCount{Type: "patients", Scenarios: 2, Entities: 6, Rows: 6}) {
		t.Fatalf("counts: %d scenarios, %+v", report.Scenarios, report.Types)
	}

	fine, _ := store.ResolveID(ctx, "fine")
	plant(t, db,
		`INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data) VALUES ('gone', 0, 'patients', 'g1', '{}')`,
		`INSERT INTO scenario_tags VALUES ('gone', 'lost')`,
		`INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data)
			SELECT id, seq, 'spaceships', 's1', '{}' FROM scenarios WHERE id = '`+fine+`'`,
		`INSERT INTO encounters (encounter_id, scenario_id) VALUES ('e9', 'gone')`,
		`INSERT INTO claims (claim_id, scenario_id) VALUES ('c9', '`+fine+`')`,
	)
	report, err = store.CheckIntegrity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		what string
		got  []scenario.Orphan
		one  scenario.Orphan
	}{
		{"orphan entities", report.OrphanEntities, scenario.Orphan{Table: "scenario_entities", ScenarioID: "gone", EntityType: "patients", Rows: 1, Example: "g1"}},
		{"orphan tags", report.OrphanTags, scenario.Orphan{Table: "scenario_tags", ScenarioID: "gone", Rows: 1, Example: "lost"}},
		{"unknown types", report.UnknownTypes, scenario.Orphan{Table: "scenario_entities", ScenarioID: fine, EntityType: "spaceships", Rows: 1, Example: "s1"}},
		{"orphan rows", report.OrphanRows, scenario.Orphan{Table: "encounters", ScenarioID: "gone", Rows: 1, Example: "e9"}},
		{"unmatched rows", report.UnmatchedRows, scenario.Orphan{Table: "claims", ScenarioID: fine, Rows: 1, Example: "c9"}},
	}
	for _, w := range want {
		if len(w.got) != 1 || w.got[0] != w.one {
			t.Errorf("%s: %+v, want %+v", w.what, w.got, w.one)
		}
	}
	if len(report.CountMismatches) != 1 || report.CountMismatches[0] != (scenario.Mismatch{ScenarioID: fine, Name: "fine", Type: "claims", Entities: 1, Rows: 2}) {
		t.Errorf("count mismatches: %+v", report.CountMismatches)
	}
	// The entity of an unknown type is not in fine's entity_counts.
	if len(report.StaleCopies) != 1 || report.StaleCopies[0].ScenarioID != fine || report.StaleCopies[0].EntityType != "entity_counts" {
		t.Errorf("stale copies: %+v, want fine's entity_counts", report.StaleCopies)
	}
	if report.Problems() != 7 {
		t.Errorf("problems: %d, want 7", report.Problems())
	}

	// Duplicates, which no constraint of the schema prevents: a name and an
	// id used twice, an entity (with its canonical row, so that the counts
	// agree) and a tag written twice.
	plant(t, db,
		`INSERT INTO scenarios (id, name) VALUES ('dup-1', 'fine'), ('dup-1', 'twin')`,
		`INSERT INTO scenario_entities SELECT * FROM scenario_entities WHERE scenario_id = '`+fine+`' AND entity_id = 'f-0'`,
		`INSERT INTO patients SELECT * FROM patients WHERE scenario_id = '`+fine+`' AND id = 'f-0'`,
		`INSERT INTO scenario_tags VALUES ('`+fine+`', 't')`,
	)
	report, err = store.CheckIntegrity(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantDups := []scenario.Duplicate{
		{Table: "scenario_entities", Column: "entity_id", Value: "f-0", ScenarioID: fine, EntityType: "patients", Rows: 2},
		{Table: "scenario_tags", Column: "tag", Value: "t", ScenarioID: fine, Rows: 2},
		{Table: "scenarios", Column: "id", Value: "dup-1", Rows: 2, Others: "fine, twin"},
		{Table: "scenarios", Column: "name", Value: "fine", Rows: 2, Others: strings.Join(sorted("dup-1", fine), ", ")},
	}
	if !slices.Equal(report.Duplicates, wantDups) {
		t.Errorf("duplicates:\n%+v\nwant\n%+v", report.Duplicates, wantDups)
	}
	// The planted tag and entity also make fine's tags and entity_counts
	// disagree with the tables.
	if report.Problems() != 12 || len(report.CountMismatches) != 1 || len(report.UnmatchedRows) != 1 || len(report.StaleCopies) != 2 {
		t.Errorf("problems: %d, want 12: %+v", report.Problems(), report)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// plant runs statements in one write window, bypassing the Store.
func plant(t *testing.T, db *dbx.DB, stmts ...string) {
	t.Helper()
	if err := db.Write(context.Background(), func(tx *sqlx.Tx) error {
		for _, s := range stmts {
			if _, err := tx.Exec(s); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
