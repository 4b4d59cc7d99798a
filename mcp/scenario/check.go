package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Integrity is what [Store.CheckIntegrity] found. Its problem lists are
// empty when the scenario tables agree with each other.
type Integrity struct {
	Scenarios int
	// Types counts, per entity type in schema order, the scenarios with
	// entities of that type, the entities, and the rows of its canonical table.
	Types []TypeCount

	// MissingTables are tables of the schema that do not exist; the checks
	// that need them were skipped.
	MissingTables []string
	// OrphanEntities are scenario_entities rows whose scenario does not exist.
	OrphanEntities []Orphan
	// OrphanTags are scenario_tags rows whose scenario does not exist.
	OrphanTags []Orphan
	// UnknownTypes are scenario_entities rows whose entity_type is not one
	// of the canonical types.
	UnknownTypes []Orphan
	// StaleCopies are what the scenarios rows and scenario_entities keep
	// of each other (migration 00008) and that disagree: a scenario's tags
	// or entity_counts (EntityType names the column; Example is the
	// scenarios row's value), or entities whose scenario_seq is not their
	// scenario's seq (Rows of them), which reads by seq do not find.
	StaleCopies []Orphan
	// OrphanRows are canonical rows whose scenario_id names no scenario.
	OrphanRows []Orphan
	// UnmatchedRows are canonical rows of an existing scenario whose id no
	// scenario_entities row of that scenario and type has.
	UnmatchedRows []Orphan
	// CountMismatches are scenarios whose number of entities of a type
	// differs from their number of rows in its canonical table.
	CountMismatches []Mismatch
	// Duplicates are values that must be unique but that several rows
	// share: scenario ids and names, an entity's id within its scenario and
	// type, a tag within its scenario. The schema has no PRIMARY KEY or
	// UNIQUE constraint (see migrations/sql/00005_no_art_indexes.sql): the
	// writers of package scenario keep these unique.
	Duplicates []Duplicate
}

// TypeCount is one entity type's line of an Integrity report.
type TypeCount struct {
	Type      string `db:"type" json:"type"`
	Scenarios int    `db:"scenarios" json:"scenarios"`
	Entities  int    `db:"entities" json:"entities"`
	Rows      int    `db:"rows" json:"rows"` // in the canonical table, orphans included
}

// Orphan is a group of rows that point to something missing: Rows rows of
// Table for one scenario id (and entity type, for scenario_entities).
type Orphan struct {
	Table      string `db:"table" json:"table"`
	ScenarioID string `db:"scenario_id" json:"scenario_id"`
	EntityType string `db:"entity_type" json:"entity_type,omitempty"`
	Rows       int    `db:"rows" json:"rows"`
	Example    string `db:"example" json:"example"` // one of the rows: an id or a tag
}

// Duplicate is a Value of Column that Rows rows of Table share although it
// must be unique: a scenario's id or name (scenarios), an entity's id within
// its scenario and type (scenario_entities, column entity_id), a tag within
// its scenario (scenario_tags, column tag).
type Duplicate struct {
	Table      string `db:"table" json:"table"`
	Column     string `db:"column" json:"column"`
	Value      string `db:"value" json:"value"`
	ScenarioID string `db:"scenario_id" json:"scenario_id,omitempty"` // entity ids and tags: their scenario
	EntityType string `db:"entity_type" json:"entity_type,omitempty"` // entity ids: their type
	Rows       int    `db:"rows" json:"rows"`
	// Others are, for a shared name, the ids of the scenarios that have it
	// and, for a shared id, their names: at most three, sorted, joined by ", ".
	Others string `db:"others" json:"others,omitempty"`
}

// Mismatch is a scenario whose entities of Type and canonical rows differ in number.
type Mismatch struct {
	ScenarioID string `db:"scenario_id" json:"scenario_id"`
	Name       string `db:"name" json:"name"`
	Type       string `db:"type" json:"type"`
	Entities   int    `db:"entities" json:"entities"`
	Rows       int    `db:"rows" json:"rows"`
}

// Problems returns the number of problems found (groups of rows, missing
// tables); 0 means the data is consistent.
func (r *Integrity) Problems() int {
	return len(r.MissingTables) + len(r.OrphanEntities) + len(r.OrphanTags) + len(r.UnknownTypes) +
		len(r.StaleCopies) + len(r.OrphanRows) + len(r.UnmatchedRows) + len(r.CountMismatches) + len(r.Duplicates)
}

// CheckIntegrity checks that the scenario tables agree, through the read
// pool: every entity, tag and canonical row belongs to an existing
// scenario; every canonical row has its scenario_entities row; each
// scenario has as many canonical rows of a type as entities; scenario ids
// and names, entity ids (per scenario and type) and tags (per scenario)
// are unique, which no constraint of the schema enforces. It changes
// nothing. Each check is one query, so no read is held open for long and
// writers of other processes get through while it runs; progress, if set,
// is called after each of the steps.
//
// A canonical row's id is the first of its table's id fields that is a
// column (see the id fields of Save): rows whose id field is not a column
// of the table (a patient identified by patient_id) are covered by the
// count check only.
func (s *Store) CheckIntegrity(ctx context.Context, progress func(done, total int)) (*Integrity, error) {
	q := s.db.Read()
	r := &Integrity{}
	var cols []column
	if err := q.SelectContext(ctx, &cols, `SELECT table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main'`); err != nil {
		return nil, fmt.Errorf("scenario: check: read the schema: %w", err)
	}
	columns := map[string][]string{}
	for _, c := range cols {
		columns[c.Table] = append(columns[c.Table], c.Name)
	}
	var tables []string // the canonical tables there are
	for _, t := range append([]string{"scenarios", "scenario_entities", "scenario_tags"}, entityTypes...) {
		if len(columns[t]) == 0 {
			r.MissingTables = append(r.MissingTables, t)
		} else if slices.Contains(entityTypes, t) {
			tables = append(tables, t)
		}
	}
	if len(r.MissingTables) > 0 && slices.ContainsFunc(r.MissingTables, func(t string) bool { return !slices.Contains(entityTypes, t) }) {
		return r, nil // no scenario tables: nothing else to check
	}
	steps, done := 2+len(tables), 0
	step := func() {
		done++
		if progress != nil {
			progress(done, steps)
		}
	}
	get := func(dest any, query string, args ...any) error {
		if err := sqlx.SelectContext(ctx, q, dest, query, args...); err != nil {
			return fmt.Errorf("scenario: check: %w", err)
		}
		return nil
	}

	if err := q.GetContext(ctx, &r.Scenarios, `SELECT count(*) FROM scenarios`); err != nil {
		return nil, fmt.Errorf("scenario: check: %w", err)
	}
	if err := get(&r.OrphanEntities, `SELECT 'scenario_entities' AS "table", scenario_id, entity_type, count(*) AS "rows", min(entity_id) AS example
		FROM scenario_entities e WHERE NOT EXISTS (SELECT 1 FROM scenarios s WHERE s.id = e.scenario_id)
		GROUP BY ALL ORDER BY scenario_id, entity_type`); err != nil {
		return nil, err
	}
	if err := get(&r.OrphanTags, `SELECT 'scenario_tags' AS "table", scenario_id, '' AS entity_type, count(*) AS "rows", min(tag) AS example
		FROM scenario_tags t WHERE NOT EXISTS (SELECT 1 FROM scenarios s WHERE s.id = t.scenario_id)
		GROUP BY ALL ORDER BY scenario_id`); err != nil {
		return nil, err
	}
	if err := get(&r.UnknownTypes, `SELECT 'scenario_entities' AS "table", scenario_id, entity_type, count(*) AS "rows", min(entity_id) AS example
		FROM scenario_entities WHERE NOT list_contains($1::VARCHAR[], entity_type)
		GROUP BY ALL ORDER BY scenario_id, entity_type`, entityTypes); err != nil {
		return nil, err
	}
	if err := get(&r.StaleCopies, `WITH t AS (SELECT scenario_id, to_json(list(tag ORDER BY tag))::VARCHAR AS tags FROM scenario_tags GROUP BY ALL),
			c AS (SELECT scenario_id, to_json(map(list(entity_type ORDER BY entity_type), list(n ORDER BY entity_type)))::VARCHAR AS counts
				FROM (SELECT scenario_id, entity_type, count(*) AS n FROM scenario_entities GROUP BY ALL) GROUP BY ALL)
		SELECT * FROM (
			SELECT 'scenarios' AS "table", s.id AS scenario_id, 'tags' AS entity_type, 1 AS "rows", s.tags AS example
			FROM scenarios s LEFT JOIN t ON t.scenario_id = s.id WHERE s.tags::JSON <> coalesce(t.tags, '[]')::JSON
			UNION ALL
			SELECT 'scenarios', s.id, 'entity_counts', 1, s.entity_counts
			FROM scenarios s LEFT JOIN c ON c.scenario_id = s.id WHERE s.entity_counts::JSON::MAP(VARCHAR, BIGINT) <> coalesce(c.counts, '{}')::JSON::MAP(VARCHAR, BIGINT)
			UNION ALL
			SELECT 'scenario_entities', e.scenario_id, 'scenario_seq', count(*), min(e.entity_id)
			FROM scenario_entities e JOIN scenarios s ON s.id = e.scenario_id WHERE e.scenario_seq <> s.seq GROUP BY ALL)
		ORDER BY scenario_id, entity_type`); err != nil {
		return nil, err
	}
	if err := get(&r.Duplicates, `SELECT * FROM (
			SELECT 'scenarios' AS "table", 'id' AS "column", id AS value, '' AS scenario_id, '' AS entity_type, count(*) AS "rows",
				array_to_string(list(name ORDER BY name)[1:3], ', ') AS others
			FROM scenarios GROUP BY id HAVING count(*) > 1
			UNION ALL
			SELECT 'scenarios', 'name', name, '', '', count(*), array_to_string(list(id ORDER BY id)[1:3], ', ')
			FROM scenarios GROUP BY name HAVING count(*) > 1
			UNION ALL
			SELECT 'scenario_entities', 'entity_id', entity_id, scenario_id, entity_type, count(*), ''
			FROM scenario_entities GROUP BY scenario_id, entity_type, entity_id HAVING count(*) > 1
			UNION ALL
			SELECT 'scenario_tags', 'tag', tag, scenario_id, '', count(*), ''
			FROM scenario_tags GROUP BY scenario_id, tag HAVING count(*) > 1)
		ORDER BY "table", "column", scenario_id, entity_type, value`); err != nil {
		return nil, err
	}
	var perType []TypeCount
	if err := get(&perType, `SELECT entity_type AS type, count(DISTINCT scenario_id) AS scenarios, count(*) AS entities, 0 AS "rows"
		FROM scenario_entities e WHERE EXISTS (SELECT 1 FROM scenarios s WHERE s.id = e.scenario_id) GROUP BY ALL`); err != nil {
		return nil, err
	}
	step()

	for _, t := range tables {
		tc := TypeCount{Type: t}
		if i := slices.IndexFunc(perType, func(c TypeCount) bool { return c.Type == t }); i >= 0 {
			tc = perType[i]
		}
		table := quoteIdent(t)
		if err := q.GetContext(ctx, &tc.Rows, `SELECT count(*) FROM `+table); err != nil {
			return nil, fmt.Errorf("scenario: check %s: %w", t, err)
		}
		r.Types = append(r.Types, tc)
		id := idExpr(t, columns[t])
		var orphans []Orphan
		if err := get(&orphans, fmt.Sprintf(`SELECT %s AS "table", scenario_id, '' AS entity_type, count(*) AS "rows", coalesce(min(%s), '') AS example
			FROM %s r WHERE NOT EXISTS (SELECT 1 FROM scenarios s WHERE s.id = r.scenario_id)
			GROUP BY ALL ORDER BY scenario_id`, quoteString(t), id, table)); err != nil {
			return nil, err
		}
		r.OrphanRows = append(r.OrphanRows, orphans...)
		if id != "NULL" {
			var unmatched []Orphan
			if err := get(&unmatched, fmt.Sprintf(`SELECT %[1]s AS "table", scenario_id, '' AS entity_type, count(*) AS "rows", min(id) AS example
				FROM (SELECT scenario_id, %[2]s AS id FROM %[3]s) r
				WHERE id IS NOT NULL
				  AND EXISTS (SELECT 1 FROM scenarios s WHERE s.id = r.scenario_id)
				  AND NOT EXISTS (SELECT 1 FROM scenario_entities e
					WHERE e.scenario_id = r.scenario_id AND e.entity_type = %[1]s AND e.entity_id = r.id)
				GROUP BY ALL ORDER BY scenario_id`, quoteString(t), id, table)); err != nil {
				return nil, err
			}
			r.UnmatchedRows = append(r.UnmatchedRows, unmatched...)
		}
		var mismatches []Mismatch
		if err := get(&mismatches, fmt.Sprintf(`WITH e AS (SELECT scenario_id, count(*) AS n FROM scenario_entities WHERE entity_type = %[1]s GROUP BY ALL),
				r AS (SELECT scenario_id, count(*) AS n FROM %[2]s GROUP BY ALL)
			SELECT s.id AS scenario_id, s.name, %[1]s AS type, coalesce(e.n, 0) AS entities, coalesce(r.n, 0) AS "rows"
			FROM scenarios s LEFT JOIN e ON e.scenario_id = s.id LEFT JOIN r ON r.scenario_id = s.id
			WHERE coalesce(e.n, 0) <> coalesce(r.n, 0) ORDER BY s.name`, quoteString(t), table)); err != nil {
			return nil, err
		}
		r.CountMismatches = append(r.CountMismatches, mismatches...)
		step()
	}
	step()
	return r, nil
}

// idExpr is the SQL for a canonical row's entity id in table: its first
// id fields that are columns, trimmed, empty as NULL; "NULL" if the
// table's preferred id field is not a column.
func idExpr(table string, columns []string) string {
	var parts []string
	for _, f := range entityIDFields(table) {
		if !slices.Contains(columns, f) {
			break // a later field would only be used when this one is missing: unknowable here
		}
		parts = append(parts, fmt.Sprintf("nullif(trim(%s::VARCHAR), '')", quoteIdent(f)))
	}
	switch len(parts) {
	case 0:
		return "NULL"
	case 1:
		return parts[0]
	}
	return "coalesce(" + strings.Join(parts, ", ") + ")"
}
