package mcp_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/healthsim/healthsim-go/mcp"
	"github.com/healthsim/healthsim-go/mcp/scenario"
)

// TestLoadScenarioPages: healthsim_load_scenario answers one bounded page
// of entities, says how to get the next, and paging with next_offset
// reaches every entity once, by type or across types; an entity larger
// than a page comes as a note with the SQL that reads it.
func TestLoadScenarioPages(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	patients := make([]any, 250)
	for i := range patients {
		patients[i] = map[string]any{"mrn": fmt.Sprintf("p%03d", i), "note": strings.Repeat("x", 900)}
	}
	encounters := []any{map[string]any{"encounter_id": "e1", "patient_mrn": "p000"},
		map[string]any{"encounter_id": "big", "patient_mrn": "p001", "note": strings.Repeat("y", scenario.MaxPageBytes+1)}}
	e.ok("healthsim_save_scenario", map[string]any{"name": "paged", "entities": map[string]any{"patients": patients, "encounters": encounters}}, &struct{}{})

	type page struct {
		Entities map[string][]map[string]any `json:"entities"`
		Page     scenario.PageInfo           `json:"page"`
	}
	var first page
	e.ok("healthsim_load_scenario", map[string]any{"name_or_id": "paged", "entity_type": "patients"}, &first)
	if first.Page.Returned != scenario.DefaultPageLimit || first.Page.NextOffset == nil || !strings.Contains(first.Page.Note, "offset 100") || first.Page.Total != 250 {
		t.Fatalf("first page: %+v", first.Page)
	}
	walk := func(args map[string]any) (ids []string, pages int) {
		t.Helper()
		offset := 0
		for {
			args["offset"] = offset
			var p page
			e.ok("healthsim_load_scenario", args, &p)
			pages++
			for typ, list := range p.Entities {
				for _, ent := range list {
					id, _ := ent["mrn"].(string)
					if typ == "encounters" {
						id, _ = ent["encounter_id"].(string)
						if ent["_omitted"] != nil {
							id = "omitted"
						}
					}
					ids = append(ids, typ+"/"+id)
				}
			}
			if b, _ := json.Marshal(p.Entities); len(b) > scenario.MaxPageBytes+1000 {
				t.Fatalf("a page of %d bytes", len(b))
			}
			if p.Page.NextOffset == nil {
				return ids, pages
			}
			offset = *p.Page.NextOffset
		}
	}
	all, pages := walk(map[string]any{"name_or_id": "paged", "limit": 1000})
	if len(all) != 252 || len(slices.Compact(slices.Sorted(slices.Values(all)))) != 252 || !slices.Contains(all, "encounters/omitted") || pages < 3 {
		t.Fatalf("paging across types reached %d entities in %d pages (want 252, each once, the big one omitted, cut by bytes)", len(all), pages)
	}
	enc, _ := walk(map[string]any{"name_or_id": "paged", "entity_type": "encounter"})
	if !slices.Equal(enc, []string{"encounters/omitted", "encounters/e1"}) && !slices.Equal(enc, []string{"encounters/e1", "encounters/omitted"}) {
		t.Fatalf("encounters: %v", enc)
	}
	var big page
	e.ok("healthsim_load_scenario", map[string]any{"name_or_id": "paged", "entity_type": "encounters", "limit": 2}, &big)
	for _, ent := range big.Entities["encounters"] {
		if sql, ok := ent["_sql"].(string); ok {
			var keys []string
			if err := e.db.Read().Select(&keys, "SELECT unnest("+sql[len("SELECT "):strings.Index(sql, " FROM")]+") FROM"+sql[strings.Index(sql, " FROM")+5:]); err != nil || !slices.Contains(keys, "note") {
				t.Fatalf("the omitted entity's SQL %q: %v, %v", sql, keys, err)
			}
		}
	}
	for _, bad := range []map[string]any{
		{"name_or_id": "paged", "entity_type": "aliens"},
		{"name_or_id": "paged", "offset": -1},
		{"name_or_id": "paged", "limit": 0},
		{"name_or_id": "paged", "limit": scenario.MaxPageLimit + 1},
	} {
		e.fails("healthsim_load_scenario", bad)
	}
}

// TestAnswersAreBounded: what a save takes is bounded (description, tags),
// and an answer still over MaxAnswerBytes (here: 200 scenarios with 50
// long tags each) is an error result that says how to ask for less, not a
// message a client cannot read.
func TestAnswersAreBounded(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	patient := map[string]any{"patients": []any{map[string]any{"mrn": "p1"}}}
	if msg := e.fails("healthsim_save_scenario", map[string]any{"name": "long", "description": strings.Repeat("d", scenario.MaxDescriptionLen+1), "entities": patient}); !strings.Contains(msg, "at most 2000") {
		t.Fatalf("a long description: %s", msg)
	}
	tags := make([]any, scenario.MaxTags)
	for i := range tags {
		tags[i] = fmt.Sprintf("%03d%s", i, strings.Repeat("t", scenario.MaxTagLen-3))
	}
	if msg := e.fails("healthsim_save_scenario", map[string]any{"name": "tags", "tags": append(slices.Clone(tags), "one more"), "entities": patient}); !strings.Contains(msg, "at most 50") {
		t.Fatalf("too many tags: %s", msg)
	}
	for i := range 110 {
		e.ok("healthsim_save_scenario", map[string]any{"name": fmt.Sprintf("tagged %d", i), "tags": tags, "entities": patient}, &struct{}{})
	}
	if msg := e.fails("healthsim_list_scenarios", map[string]any{"limit": 200}); !strings.Contains(msg, "smaller limit") {
		t.Fatalf("an oversized list: %s", msg)
	}
	var list mcp.ListScenariosOutput
	e.ok("healthsim_list_scenarios", map[string]any{"limit": 10}, &list)
}

// TestLinksMatchTheSchema: every link a model is told about (tool
// descriptions, the generate_cohort prompt, the schema resource, via
// scenario.Links) names real columns, every reference column of an entity
// table is among them, and the README's save example writes every field to
// a column and is found by a join of patients and encounters.
func TestLinksMatchTheSchema(t *testing.T) {
	e := newEnv(t, mcp.Options{})
	columns := map[string]bool{}
	var rows []struct{ T, C string }
	if err := e.db.Read().Select(&rows, `SELECT table_name AS t, column_name AS c FROM duckdb_columns() WHERE database_name = current_database() AND schema_name = 'main'`); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		columns[r.T+"."+r.C] = true
	}
	linked := map[string]bool{}
	for _, l := range scenario.Links {
		if !columns[l.RefTable+"."+l.RefColumn] {
			t.Errorf("link %s: %s.%s is not a column", l.Column, l.RefTable, l.RefColumn)
		}
		for _, table := range l.Tables {
			if !columns[table+"."+l.Column] {
				t.Errorf("link %s: %s.%s is not a column", l.Column, table, l.Column)
			}
			linked[table+"."+l.Column] = true
		}
	}
	for _, r := range rows {
		isRef := regexp.MustCompile(`^(patient_mrn|encounter_id|member_id|subject_id|patient_ref|claim_id)$`).MatchString(r.C)
		if isRef && slices.Contains(scenario.EntityTypes(), r.T) && !linked[r.T+"."+r.C] {
			ownID := map[string]bool{"encounters.encounter_id": true, "members.member_id": true, "subjects.subject_id": true,
				"claims.claim_id": true, "pharmacy_claims.claim_id": true}
			if !ownID[r.T+"."+r.C] {
				t.Errorf("%s.%s refers to another table but is not in scenario.Links", r.T, r.C)
			}
		}
	}
	for _, tool := range e.srv.Tools() {
		if tool.Name == "healthsim_save_scenario" && !strings.Contains(tool.Description, scenario.LinkHint()) {
			t.Error("healthsim_save_scenario's description does not carry the links")
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("\\| `healthsim_save_scenario` \\|[^\\n]*\\| `(\\{.*\\})` \\|").FindSubmatch(readme)
	if m == nil {
		t.Fatal("no healthsim_save_scenario example in the README's tool table")
	}
	var example map[string]any
	if err := json.Unmarshal(m[1], &example); err != nil {
		t.Fatalf("the README's save example is not JSON: %v", err)
	}
	var saved scenario.SaveResult
	e.ok("healthsim_save_scenario", example, &saved)
	if len(saved.JSONOnlyFields) != 0 {
		t.Errorf("the README's save example has fields without a column: %v", saved.JSONOnlyFields)
	}
	if n := e.count(`SELECT count(*) FROM patients p JOIN encounters e ON e.patient_mrn = p.mrn AND e.scenario_id = p.scenario_id
		WHERE e.admission_time IS NOT NULL AND p.scenario_id = '` + saved.ID + `'`); n != 1 {
		t.Fatalf("a join of the README example's patients and encounters found %d rows, want 1", n)
	}

	// Fields a model gets wrong are named in the answer (Save's own
	// scenario_id and created_at too); a patient given only an id is
	// linked by it.
	e.ok("healthsim_save_scenario", map[string]any{"name": "wrong links", "entities": map[string]any{
		"patients":   []any{map[string]any{"id": "p1", "created_at": "yesterday"}},
		"encounters": []any{map[string]any{"encounter_id": "e1", "patient_id": "p1", "patient_mrn": "p1", "start": "2024-01-01"}},
	}}, &saved)
	if !slices.Equal(saved.JSONOnlyFields["encounters"], []string{"patient_id", "start"}) || !slices.Equal(saved.JSONOnlyFields["patients"], []string{"created_at"}) {
		t.Fatalf("json_only_fields: %v", saved.JSONOnlyFields)
	}
	if n := e.count(`SELECT count(*) FROM patients p JOIN encounters e ON e.patient_mrn = p.mrn AND e.scenario_id = p.scenario_id WHERE p.scenario_id = '` + saved.ID + `'`); n != 1 {
		t.Fatalf("a patient given only an id: the join found %d rows, want 1", n)
	}
	// Many unknown fields are named up to a bound, with a count of the rest.
	many := map[string]any{"mrn": "p1"}
	for i := range 30 {
		many[fmt.Sprintf("extra_%02d", i)] = i
	}
	e.ok("healthsim_save_scenario", map[string]any{"name": "many fields", "entities": map[string]any{"patients": []any{many}}}, &saved)
	if got := saved.JSONOnlyFields["patients"]; len(got) != 21 || got[20] != "… and 10 more" {
		t.Fatalf("json_only_fields of 30 unknown fields: %v", got)
	}
}
