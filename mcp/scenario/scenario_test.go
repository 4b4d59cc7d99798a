package scenario_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/migrations"
)

// newStore opens a migrated database file in a temporary folder.
func newStore(t *testing.T) (*dbx.DB, *scenario.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(t.TempDir(), "healthsim.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := migrations.Up(ctx, db); err != nil {
		t.Fatal(err)
	}
	return db, scenario.New(db)
}

// rowCounts counts the rows of every table a scenario writes to.
func rowCounts(t *testing.T, db *dbx.DB) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, table := range append([]string{"scenarios", "scenario_tags", "scenario_entities"}, scenario.EntityTypes()...) {
		var n int
		if err := db.Read().Get(&n, "SELECT count(*) FROM "+table); err != nil {
			t.Fatal(err)
		}
		counts[table] = n
	}
	return counts
}

func assertUnchanged(t *testing.T, db *dbx.DB, before map[string]int) {
	t.Helper()
	if after := rowCounts(t, db); !maps.Equal(before, after) {
		t.Fatalf("rows changed:\nbefore %v\nafter  %v", before, after)
	}
}

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func samplePatients(n int, prefix string) []map[string]any {
	ps := make([]map[string]any, n)
	for i := range ps {
		ps[i] = map[string]any{
			"id": fmt.Sprintf("%s-%d", prefix, i), "mrn": fmt.Sprintf("MRN%06d", i),
			"given_name": "Ana", "family_name": "Lee", "gender": "F", "deceased": false,
			"birth_date": fmt.Sprintf("19%02d-%02d-%02d", 40+i%60, 1+i%12, 1+i%28),
			"city":       "Springfield", "state": "IL", "postal_code": "62701",
		}
	}
	return ps
}

func TestSaveLoadListSummaryDelete(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()

	longNote := strings.Repeat("very long text ", 20)
	patients := []map[string]any{
		{"id": "p1", "mrn": "MRN1", "given_name": "Ana", "family_name": "Lee", "birth_date": "1980-02-29",
			"deceased": false, "generation_seed": 42, "notes": "no column <b>&</b>",
			"address": map[string]any{"line": "1 Main St", "zip": "62701"}, "source_type": "loaded", "skill_used": "diabetes"},
		{"patient_id": 7, "given_name": "Bo", "birth_date": "1975-12-01T00:00:00Z", "bio": longNote,
			"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8},
	}
	encounters := []map[string]any{
		{"encounter_id": "e1", "patient_mrn": "MRN1", "admission_time": "2024-03-01T10:15:00", "class_code": "AMB"},
	}
	claims := []map[string]any{
		{"claim_id": "c1", "member_id": "m1", "other_diagnoses": []any{"E11.9", "I10"}, "total_charge": 1234.5, "service_date": "2024-03-02"},
		{"claim_id": "c2", "other_diagnoses": nil},
	}
	res, err := store.Save(ctx, scenario.SaveRequest{
		Name: "  Diabetes cohort ", Description: "Adults with Type 2 diabetes",
		Tags:     []string{"Diabetes", " demo ", "diabetes", ""},
		Entities: map[string][]map[string]any{"patients": patients, "encounter": encounters, "claims": claims},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "Diabetes cohort" || res.ID == "" || res.Overwritten || res.TotalEntities != 5 ||
		!maps.Equal(res.EntityCounts, map[string]int{"patients": 2, "encounters": 1, "claims": 2}) {
		t.Fatalf("save result %+v", res)
	}
	if fmt.Sprint(res.Tags) != "[diabetes demo]" {
		t.Fatalf("tags %v", res.Tags)
	}

	// Load by name and by id; entity JSON is byte for byte what encoding/json makes.
	for _, key := range []string{"Diabetes cohort", res.ID} {
		sc, err := store.Load(ctx, key, true)
		if err != nil {
			t.Fatal(err)
		}
		if sc.ID != res.ID || sc.Description != "Adults with Type 2 diabetes" || fmt.Sprint(sc.Tags) != "[demo diabetes]" ||
			sc.TotalEntities != 5 || sc.EntityCounts["patients"] != 2 || !sc.CreatedAt.Equal(res.CreatedAt) {
			t.Fatalf("load %q: %+v", key, sc)
		}
		for typ, want := range map[string][]map[string]any{"patients": patients, "encounters": encounters, "claims": claims} {
			got := sc.Entities[typ]
			if len(got) != len(want) {
				t.Fatalf("%s: %d entities, want %d", typ, len(got), len(want))
			}
			for i := range want {
				if string(got[i]) != marshal(t, want[i]) {
					t.Errorf("%s[%d] = %s, want %s", typ, i, got[i], marshal(t, want[i]))
				}
			}
		}
	}
	sc, err := store.Load(ctx, res.ID, false)
	if err != nil || sc.Entities != nil || sc.EntityCounts["claims"] != 2 {
		t.Fatalf("load without entities: %+v, %v", sc, err)
	}

	// Canonical rows: casts, ignored fields, provenance.
	var p struct {
		ID         string  `db:"id"`
		BirthDate  string  `db:"birth_date"`
		Deceased   *bool   `db:"deceased"`
		Seed       *int64  `db:"generation_seed"`
		ScenarioID string  `db:"scenario_id"`
		SourceType string  `db:"source_type"`
		SkillUsed  *string `db:"skill_used"`
	}
	if err := db.Read().Get(&p, `SELECT id, birth_date::VARCHAR AS birth_date, deceased, generation_seed, scenario_id, source_type, skill_used
		FROM patients WHERE mrn = 'MRN1'`); err != nil {
		t.Fatal(err)
	}
	if p.ID != "p1" || p.BirthDate != "1980-02-29" || p.Deceased == nil || *p.Deceased || p.Seed == nil || *p.Seed != 42 ||
		p.ScenarioID != res.ID || p.SourceType != "loaded" || p.SkillUsed == nil || *p.SkillUsed != "diabetes" {
		t.Fatalf("patient row %+v", p)
	}
	var src, bd string
	if err := db.Read().QueryRow(`SELECT source_type, birth_date::VARCHAR FROM patients WHERE id IS NULL AND given_name = 'Bo'`).Scan(&src, &bd); err != nil {
		t.Fatal(err) // patient_id is an id field for the scenario, not a column
	}
	if src != "generated" || bd != "1975-12-01" {
		t.Fatalf("second patient: source_type %q, birth_date %q", src, bd)
	}
	var charge, dx, adm string
	if err := db.Read().QueryRow(`SELECT total_charge::VARCHAR, other_diagnoses::VARCHAR FROM claims WHERE claim_id = 'c1'`).Scan(&charge, &dx); err != nil {
		t.Fatal(err)
	}
	if err := db.Read().QueryRow(`SELECT admission_time::VARCHAR FROM encounters`).Scan(&adm); err != nil {
		t.Fatal(err)
	}
	var nullDx bool
	if err := db.Read().Get(&nullDx, `SELECT other_diagnoses IS NULL FROM claims WHERE claim_id = 'c2'`); err != nil || !nullDx {
		t.Fatalf("a JSON null in a JSON column: is NULL %v, %v", nullDx, err)
	}
	if charge != "1234.50" || dx != `["E11.9","I10"]` || adm != "2024-03-01 10:15:00" {
		t.Fatalf("claim %s %s, encounter %s", charge, dx, adm)
	}

	// A second scenario, for List.
	time.Sleep(2 * time.Millisecond)
	res2, err := store.Save(ctx, scenario.SaveRequest{Name: "Heart failure", Description: "CHF admissions",
		Tags: []string{"cardio"}, Entities: map[string][]map[string]any{"patient": samplePatients(3, "hf")}})
	if err != nil {
		t.Fatal(err)
	}
	names := func(opts scenario.ListOptions) string {
		t.Helper()
		list, err := store.List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ns []string
		for _, e := range list {
			ns = append(ns, e.Name)
		}
		return strings.Join(ns, ",")
	}
	for _, c := range []struct {
		opts scenario.ListOptions
		want string
	}{
		{scenario.ListOptions{}, "Heart failure,Diabetes cohort"},
		{scenario.ListOptions{Limit: 1}, "Heart failure"},
		{scenario.ListOptions{Tag: "DIABETES"}, "Diabetes cohort"},
		{scenario.ListOptions{Tag: "diab"}, ""},
		{scenario.ListOptions{Search: "type 2"}, "Diabetes cohort"},
		{scenario.ListOptions{Search: "HEART"}, "Heart failure"},
		{scenario.ListOptions{Search: "o", Tag: "cardio"}, "Heart failure"},
		{scenario.ListOptions{Search: "%"}, ""},
	} {
		if got := names(c.opts); got != c.want {
			t.Errorf("List(%+v) = %q, want %q", c.opts, got, c.want)
		}
	}
	list, err := store.List(ctx, scenario.ListOptions{Tag: "cardio"})
	if err != nil || len(list) != 1 || list[0].ID != res2.ID || list[0].EntityCount != 3 || fmt.Sprint(list[0].Tags) != "[cardio]" {
		t.Fatalf("list entry %+v, %v", list, err)
	}

	// Summary: counts, few small samples.
	sum, err := store.Summary(ctx, "Diabetes cohort", true, 1)
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalEntities != 5 || len(sum.Samples["patients"]) != 1 || sum.Samples["patients"][0]["id"] != "p1" {
		t.Fatalf("summary %+v", sum)
	}
	sum, err = store.Summary(ctx, res.ID, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	bo := sum.Samples["patients"][1]
	if len(bo) != 9 || bo["patient_id"] == nil || bo["_more_fields"] != 4 {
		t.Fatalf("capped sample %v", bo)
	}
	if bio, _ := bo["a"].(json.Number); bio != "1" {
		t.Fatalf("sample number %v", bo["a"])
	}
	sum, err = store.Summary(ctx, "Heart failure", true, 3)
	if err != nil {
		t.Fatal(err)
	}
	out := marshal(t, sum)
	t.Logf("summary of a 3-patient scenario: %d bytes of JSON (about %d tokens)", len(out), len(out)/4)
	if len(out) > 2500 {
		t.Errorf("summary is %d bytes: %s", len(out), out)
	}
	sum, err = store.Summary(ctx, "Heart failure", false, 0)
	if err != nil || sum.Samples != nil || sum.EntityCounts["patients"] != 3 {
		t.Fatalf("summary without samples %+v, %v", sum, err)
	}
	if id, err := store.ResolveID(ctx, "Heart failure"); err != nil || id != res2.ID {
		t.Fatalf("ResolveID = %q, %v", id, err)
	}

	// Delete.
	del, err := store.Delete(ctx, "Diabetes cohort")
	if err != nil {
		t.Fatal(err)
	}
	if del.ID != res.ID || del.Name != "Diabetes cohort" || del.Entities != 5 || del.Tags != 2 ||
		!maps.Equal(del.Rows, map[string]int{"patients": 2, "encounters": 1, "claims": 2}) {
		t.Fatalf("delete result %+v", del)
	}
	counts := rowCounts(t, db)
	if counts["scenarios"] != 1 || counts["scenario_entities"] != 3 || counts["scenario_tags"] != 1 ||
		counts["patients"] != 3 || counts["encounters"] != 0 || counts["claims"] != 0 {
		t.Fatalf("after delete: %v", counts)
	}
	for _, err := range []error{
		func() error { _, err := store.Load(ctx, res.ID, true); return err }(),
		func() error { _, err := store.Summary(ctx, "Diabetes cohort", true, 3); return err }(),
		func() error { _, err := store.Delete(ctx, res.ID); return err }(),
		func() error { _, err := store.ResolveID(ctx, "Diabetes cohort"); return err }(),
	} {
		if !errors.Is(err, scenario.ErrNotFound) {
			t.Errorf("after delete: %v, want ErrNotFound", err)
		}
	}
}

func TestValidationChangesNothing(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	if _, err := store.Save(ctx, scenario.SaveRequest{Name: "existing", Tags: []string{"x"},
		Entities: map[string][]map[string]any{"patients": samplePatients(2, "x")}}); err != nil {
		t.Fatal(err)
	}
	before := rowCounts(t, db)
	ents := func(typ string, es ...map[string]any) map[string][]map[string]any {
		return map[string][]map[string]any{"patients": samplePatients(3, "ok"), typ: es}
	}
	for _, c := range []struct {
		name  string
		req   scenario.SaveRequest
		field string
	}{
		{"empty name", scenario.SaveRequest{Name: "  "}, "name"},
		{"long name", scenario.SaveRequest{Name: strings.Repeat("é", 201)}, "name"},
		{"unknown type", scenario.SaveRequest{Name: "n", Entities: ents("widgets", map[string]any{"id": "w"})}, "entities"},
		{"missing id", scenario.SaveRequest{Name: "n", Entities: ents("encounters", map[string]any{"encounter_id": "e1"}, map[string]any{"id": " "})}, "entities.encounters[1]"},
		{"id of another type", scenario.SaveRequest{Name: "n", Entities: ents("orders", map[string]any{"claim_id": "c"})}, "entities.orders[0]"},
		{"nil entity", scenario.SaveRequest{Name: "n", Entities: ents("diagnosis", nil)}, "entities.diagnosis[0]"},
		{"duplicate id", scenario.SaveRequest{Name: "n", Entities: ents("claims", map[string]any{"claim_id": "c1"}, map[string]any{"id": "c2"}, map[string]any{"claim_id": "c1"})}, "entities.claims[2]"},
		{"duplicate across forms", scenario.SaveRequest{Name: "n", Entities: ents("patient", map[string]any{"id": "ok-1"})}, "entities.patients[1]"},
		{"unencodable", scenario.SaveRequest{Name: "n", Entities: ents("subjects", map[string]any{"id": "s", "x": func() {}})}, "entities.subjects[0]"},
		{"bad value", scenario.SaveRequest{Name: "n", Entities: ents("vital_signs", map[string]any{"id": "v", "heart_rate": "fast"})}, "entities.vital_signs[0].heart_rate"},
		{"overflowing decimal", scenario.SaveRequest{Name: "n", Entities: ents("vital_signs", map[string]any{"id": "v", "temperature": 12345.6})}, "entities.vital_signs[0].temperature"},
		{"bad value on overwrite", scenario.SaveRequest{Name: "existing", Overwrite: true, Entities: ents("patient", map[string]any{"id": "b", "deceased": "perhaps"})}, "entities.patient[0].deceased"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := store.Save(ctx, c.req)
			var ve *input.Error
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *input.Error", err)
			}
			if ve.Field != c.field || !strings.Contains(ve.Error(), c.field) {
				t.Fatalf("field %q (%v), want %q", ve.Field, ve, c.field)
			}
			t.Logf("%v", ve)
			assertUnchanged(t, db, before)
		})
	}
	if _, err := store.Save(ctx, scenario.SaveRequest{Name: "n", Entities: ents("widgets")}); err == nil ||
		!strings.Contains(err.Error(), "lab_results") || !strings.Contains(err.Error(), "widgets") {
		t.Errorf("unknown type message %v does not list the valid types", err)
	}
	for _, limit := range []int{-1, 201} {
		var ve *input.Error
		if _, err := store.List(ctx, scenario.ListOptions{Limit: limit}); !errors.As(err, &ve) || ve.Field != "limit" {
			t.Errorf("List limit %d: %v", limit, err)
		}
	}
	for _, n := range []int{0, 11} {
		var ve *input.Error
		if _, err := store.Summary(ctx, "existing", true, n); !errors.As(err, &ve) || ve.Field != "samples_per_type" {
			t.Errorf("Summary samples %d: %v", n, err)
		}
	}
	var ve *input.Error
	if _, err := store.Load(ctx, " ", true); !errors.As(err, &ve) {
		t.Errorf("Load of an empty name: %v", err)
	}
	if _, err := store.Delete(ctx, ""); !errors.As(err, &ve) {
		t.Errorf("Delete of an empty name: %v", err)
	}
	assertUnchanged(t, db, before)
}

func TestOverwrite(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	first, err := store.Save(ctx, scenario.SaveRequest{Name: "cohort", Description: "v1", Tags: []string{"old"},
		Entities: map[string][]map[string]any{"patients": samplePatients(1500, "p"), "encounters": {{"encounter_id": "e1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	before := rowCounts(t, db)

	_, err = store.Save(ctx, scenario.SaveRequest{Name: "cohort", Entities: map[string][]map[string]any{"patients": samplePatients(1, "z")}})
	if !errors.Is(err, scenario.ErrExists) {
		t.Fatalf("save over an existing name: %v, want ErrExists", err)
	}
	t.Logf("%v", err)
	assertUnchanged(t, db, before)

	// Same ids as before for the first 1000 patients: the unique keys are
	// deleted and inserted again in one transaction.
	time.Sleep(2 * time.Millisecond)
	second, err := store.Save(ctx, scenario.SaveRequest{Name: "cohort", Description: "v2", Tags: []string{"new"}, Overwrite: true,
		Entities: map[string][]map[string]any{"patients": samplePatients(1000, "p"), "orders": {{"order_id": "o1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) || !second.Overwritten {
		t.Fatalf("overwrite result %+v, first %+v", second, first)
	}
	sc, err := store.Load(ctx, "cohort", true)
	if err != nil {
		t.Fatal(err)
	}
	if sc.ID != first.ID || sc.Description != "v2" || fmt.Sprint(sc.Tags) != "[new]" || !sc.CreatedAt.Equal(first.CreatedAt) ||
		!maps.Equal(sc.EntityCounts, map[string]int{"patients": 1000, "orders": 1}) {
		t.Fatalf("after overwrite: %+v", sc)
	}
	counts := rowCounts(t, db)
	if counts["scenarios"] != 1 || counts["scenario_entities"] != 1001 || counts["scenario_tags"] != 1 ||
		counts["patients"] != 1000 || counts["encounters"] != 0 || counts["orders"] != 1 {
		t.Fatalf("rows after overwrite: %v", counts)
	}
}

// No constraint keeps names unique: Save looks the name up inside its write
// window, and a dbx.DB runs its windows one at a time. Two goroutines saving
// the same new name at once end with one scenario and one ErrExists; an
// Import racing a Save too.
func TestConcurrentSavesOfOneName(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	for round := range 5 {
		name := fmt.Sprintf("race %d", round)
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				<-start
				_, errs[i] = store.Save(ctx, scenario.SaveRequest{Name: name, Tags: []string{"t", "T "},
					Entities: map[string][]map[string]any{"patients": samplePatients(3, fmt.Sprint("g", i))}})
			})
		}
		close(start)
		wg.Wait()
		ok, exists := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, scenario.ErrExists):
				exists++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || exists != 1 {
			t.Fatalf("round %d: %d saved, %d ErrExists (%v)", round, ok, exists, errs)
		}
	}

	// Save and Import of one new name, with other content.
	start := make(chan struct{})
	var saveErr, importErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		<-start
		_, saveErr = store.Save(ctx, scenario.SaveRequest{Name: "raced", Entities: map[string][]map[string]any{"patients": samplePatients(1, "s")}})
	})
	wg.Go(func() {
		<-start
		_, importErr = store.Import(ctx, []*scenario.Record{{ID: "imported", Name: "raced",
			Entities: []scenario.EntityRecord{{Type: "patients", ID: "i1", Data: json.RawMessage(`{"id":"i1"}`)}}}}, false)
	})
	close(start)
	wg.Wait()
	if (saveErr == nil) == (importErr == nil) || !errors.Is(errors.Join(saveErr, importErr), scenario.ErrExists) {
		t.Fatalf("save: %v; import: %v; want one to succeed and the other to fail with ErrExists", saveErr, importErr)
	}

	counts := rowCounts(t, db)
	if counts["scenarios"] != 6 || counts["scenario_entities"] != 16 || counts["patients"] != 16 || counts["scenario_tags"] != 5 {
		t.Fatalf("rows: %v", counts)
	}
	report, err := store.CheckIntegrity(ctx, nil)
	if err != nil || report.Problems() != 0 {
		t.Fatalf("integrity: %+v, %v", report, err)
	}
}

func TestFailedSaveLeavesNothing(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	before := rowCounts(t, db)

	patients := samplePatients(1500, "p")
	patients[499]["birth_date"] = "1980-13-45"
	_, err := store.Save(ctx, scenario.SaveRequest{Name: "broken", Tags: []string{"t"},
		Entities: map[string][]map[string]any{"patients": patients}})
	var ve *input.Error
	if !errors.As(err, &ve) || ve.Field != "entities.patients[499].birth_date" || !strings.Contains(ve.Error(), "1980-13-45") {
		t.Fatalf("err = %v, want a input.Error for entities.patients[499].birth_date", err)
	}
	t.Logf("%v", err)
	assertUnchanged(t, db, before)

	// A failure after earlier batches were written: they go too.
	encounters := make([]map[string]any, 1500)
	for i := range encounters {
		encounters[i] = map[string]any{"encounter_id": fmt.Sprint(i), "admission_time": "2024-01-01 08:00"}
	}
	encounters[1200]["admission_time"] = "yesterday"
	_, err = store.Save(ctx, scenario.SaveRequest{Name: "broken",
		Entities: map[string][]map[string]any{"patients": samplePatients(1500, "p"), "encounter": encounters}})
	if !errors.As(err, &ve) || ve.Field != "entities.encounter[1200].admission_time" {
		t.Fatalf("err = %v, want a input.Error for entities.encounter[1200].admission_time", err)
	}
	assertUnchanged(t, db, before)
	if _, err := store.Load(ctx, "broken", false); !errors.Is(err, scenario.ErrNotFound) {
		t.Fatalf("load after failed save: %v", err)
	}
}

func TestSaveTenThousand(t *testing.T) {
	db, store := newStore(t)
	ctx := context.Background()
	var calls [][2]int
	start := time.Now()
	res, err := store.Save(ctx, scenario.SaveRequest{Name: "big", Tags: []string{"load"},
		Entities: map[string][]map[string]any{"patients": samplePatients(10_000, "p")},
		Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved 10,000 entities in %v (%d progress calls)", elapsed.Round(time.Millisecond), len(calls))
	if res.TotalEntities != 10_000 {
		t.Fatalf("result %+v", res)
	}
	counts := rowCounts(t, db)
	if counts["scenarios"] != 1 || counts["scenario_entities"] != 10_000 || counts["patients"] != 10_000 {
		t.Fatalf("counts %v", counts)
	}
	if len(calls) < 2 || calls[len(calls)-1] != [2]int{10_000, 10_000} {
		t.Fatalf("progress calls %v", calls)
	}
	for i := 1; i < len(calls); i++ {
		if calls[i][0] <= calls[i-1][0] {
			t.Fatalf("progress not increasing: %v", calls)
		}
	}
	if elapsed > 5*time.Second {
		t.Errorf("10,000 entities took %v", elapsed)
	}
	start = time.Now()
	sc, err := store.Load(ctx, "big", true)
	if err != nil || len(sc.Entities["patients"]) != 10_000 {
		t.Fatalf("load: %v", err)
	}
	t.Logf("loaded them in %v", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	del, err := store.Delete(ctx, "big")
	if err != nil || del.Entities != 10_000 || del.Rows["patients"] != 10_000 {
		t.Fatalf("delete %+v, %v", del, err)
	}
	t.Logf("deleted them in %v", time.Since(start).Round(time.Millisecond))
}

func TestCanonicalType(t *testing.T) {
	for in, want := range map[string]string{"patient": "patients", "Lab_Result ": "lab_results", "diagnosis": "diagnoses",
		"pharmacy_claims": "pharmacy_claims", "vital_sign": "vital_signs", "exposure": "exposures"} {
		if got, ok := scenario.CanonicalType(in); !ok || got != want {
			t.Errorf("CanonicalType(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := scenario.CanonicalType("widget"); ok {
		t.Error("widget accepted")
	}
	if n := len(scenario.EntityTypes()); n != 17 {
		t.Errorf("%d entity types", n)
	}
}

// An id names its scenario even when another scenario has it as its name,
// in Load, Summary and Delete alike; the name then finds nothing else.
func TestIDBeforeName(t *testing.T) {
	_, store := newStore(t)
	ctx := context.Background()
	first, err := store.Save(ctx, scenario.SaveRequest{Name: "first", Entities: map[string][]map[string]any{"patients": samplePatients(1, "a")}})
	if err != nil {
		t.Fatal(err)
	}
	// The second scenario is named after the first one's id.
	second, err := store.Save(ctx, scenario.SaveRequest{Name: first.ID, Entities: map[string][]map[string]any{"patients": samplePatients(2, "b")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{first.ID, " " + first.ID + " "} {
		sc, err := store.Load(ctx, key, false)
		if err != nil || sc.Name != "first" || sc.TotalEntities != 1 {
			t.Fatalf("Load(%q) = %+v, %v; want the scenario whose id it is", key, sc, err)
		}
		sum, err := store.Summary(ctx, key, true, 3)
		if err != nil || sum.Name != "first" || len(sum.Samples["patients"]) != 1 {
			t.Fatalf("Summary(%q) = %+v, %v", key, sum, err)
		}
	}
	if sc, err := store.Load(ctx, second.ID, true); err != nil || sc.Name != first.ID || len(sc.Entities["patients"]) != 2 {
		t.Fatalf("Load by the second's id = %+v, %v", sc, err)
	}
	if res, err := store.Delete(ctx, first.ID); err != nil || res.Name != "first" {
		t.Fatalf("Delete(%q) = %+v, %v", first.ID, res, err)
	}
	// Now only the second has that key, as its name.
	if sc, err := store.Load(ctx, first.ID, false); err != nil || sc.ID != second.ID {
		t.Fatalf("Load(%q) after the delete = %+v, %v", first.ID, sc, err)
	}
}
