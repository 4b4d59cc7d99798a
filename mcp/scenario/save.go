package scenario

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/jmoiron/sqlx"
)

// Limits of what Save takes, so that every answer about a scenario stays
// small: the longest name, description and tag (in characters), and the
// most tags.
const (
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxTagLen         = 100
	MaxTags           = 50
)

// maxReportedFields bounds JSONOnlyFields: per type, at most this many
// field names, each cut to 64 characters, and then a count of the rest.
const maxReportedFields = 20

// batchSize is how many entities one INSERT carries; Progress is reported
// after each batch.
const batchSize = 1000

// SaveRequest is a scenario to save.
type SaveRequest struct {
	// Name identifies the scenario: 1 to MaxNameLen characters after trimming.
	Name        string
	Description string
	// Tags are trimmed, lowercased and deduplicated; empty ones are dropped.
	Tags []string
	// Entities maps an entity type (plural table name such as "patients" or
	// its singular "patient") to its entity objects. Each object needs an id
	// (see the package's id fields per type), unique within its type.
	Entities map[string][]map[string]any
	// Overwrite replaces a scenario of the same name (keeping its id and
	// created_at) instead of failing with ErrExists.
	Overwrite bool
	// Progress, if set, is called with the entities written so far and the
	// total, after each batch. It runs inside the write window: it must not
	// use the database.
	Progress func(done, total int)
}

// SaveResult describes a saved scenario.
type SaveResult struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Overwritten   bool           `json:"overwritten"`
	EntityCounts  map[string]int `json:"entity_counts"`
	TotalEntities int            `json:"total_entities"`
	Tags          []string       `json:"tags"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	// JSONOnlyFields names, per entity type, the fields that matched no
	// column of the type's table: they are kept in the entity's JSON
	// (scenario_entities.entity_data) but SQL on the table does not see
	// them. Empty when every field has a column.
	JSONOnlyFields map[string][]string `json:"json_only_fields,omitempty"`
}

// entity is one validated entity, with where the caller put it (for messages).
type entity struct {
	key  string // the type as the caller wrote it
	idx  int    // its index in the caller's list
	id   string
	doc  string // encoding/json of the object, stored verbatim
	data map[string]any
}

// plan is a validated SaveRequest.
type plan struct {
	name, description string
	tags              []string
	byTable           map[string][]entity
	total             int
}

// Save validates req and writes the scenario in one write window: the
// scenarios row, its tags, its entities (entity_data is exactly the
// encoding/json form of each object) and one row per entity in its canonical
// table (fields matched to columns by name, values cast by DuckDB, fields
// without a column ignored; scenario_id and created_at are set by Save).
//
// Invalid input, including a value DuckDB cannot cast to its column, gives a
// *input.Error; an existing name without Overwrite gives an error
// wrapping ErrExists. In every failure nothing is written.
func (s *Store) Save(ctx context.Context, req SaveRequest) (SaveResult, error) {
	p, err := validate(req)
	if err != nil {
		return SaveResult{}, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	res := SaveResult{Name: p.name, Tags: p.tags, EntityCounts: map[string]int{}, TotalEntities: p.total, CreatedAt: now, UpdatedAt: now}
	for table, es := range p.byTable {
		res.EntityCounts[table] = len(es)
	}
	err = s.db.Write(ctx, func(tx *sqlx.Tx) error {
		stmts, err := s.statements(ctx, tx)
		if err != nil {
			return err
		}
		// No constraint keeps names unique (migrations/sql/00005): this
		// lookup does, because it runs inside the write window, where every
		// write to the file is serialised. New ids are UUIDs; entity
		// ids (per type) and tags were deduplicated by validate.
		var old struct {
			ID        string    `db:"id"`
			CreatedAt time.Time `db:"created_at"`
			Seq       int64     `db:"seq"`
		}
		tags, counts := rowValues(p.tags, p.byTable)
		var seq int64
		err = tx.GetContext(ctx, &old, `SELECT id, created_at, seq FROM scenarios WHERE name = $1 LIMIT 1`, p.name)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			res.ID = newID()
			if seq, err = insertScenario(ctx, tx, res.ID, p.name, p.description, now, now, tags, counts); err != nil {
				return fmt.Errorf("scenario: save %q: %w", p.name, err)
			}
		case err != nil:
			return fmt.Errorf("scenario: save %q: %w", p.name, err)
		case !req.Overwrite:
			return fmt.Errorf("%w: %q (id %s); choose another name or set overwrite to replace it", ErrExists, p.name, old.ID)
		default:
			// Keep the row (id, name, created_at) and update it: only its
			// dependent rows are deleted and written again.
			res.ID, res.CreatedAt, res.Overwritten, seq = old.ID, old.CreatedAt.UTC(), true, old.Seq
			if _, err := deleteContents(ctx, tx, old.ID); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE scenarios SET description = $2, updated_at = $3, tags = $4, entity_counts = $5 WHERE id = $1`,
				old.ID, p.description, now, tags, counts); err != nil {
				return fmt.Errorf("scenario: save %q: %w", p.name, err)
			}
		}
		res.JSONOnlyFields = jsonOnlyFields(p.byTable, stmts)
		if len(p.tags) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO scenario_tags (scenario_id, tag) SELECT $1, unnest($2::VARCHAR[])`,
				res.ID, p.tags); err != nil {
				return fmt.Errorf("scenario: save tags: %w", err)
			}
		}
		done := 0
		rows := &entityRows{scenarioID: res.ID, seq: seq}
		for _, table := range entityTypes { // schema order: deterministic progress
			es := p.byTable[table]
			for start := 0; start < len(es); start += batchSize {
				batch := es[start:min(start+batchSize, len(es))]
				if err := stmts[table].insert(ctx, tx, res.ID, batch); err != nil {
					return err
				}
				if err := rows.add(ctx, tx, table, batch); err != nil {
					return err
				}
				done += len(batch)
				if req.Progress != nil {
					req.Progress(done, p.total)
				}
			}
		}
		return rows.flush(ctx, tx)
	})
	if err != nil {
		return SaveResult{}, s.explain(ctx, err)
	}
	return res, nil
}

// jsonOnlyFields returns, per table with any, the sorted fields of its
// entities that no column of the table holds (scenario_id and created_at
// are Save's own), at most maxReportedFields of them and then how many
// more.
func jsonOnlyFields(byTable map[string][]entity, stmts map[string]*tableSQL) map[string][]string {
	out := map[string][]string{}
	for table, es := range byTable {
		seen := map[string]bool{}
		for _, e := range es {
			for field := range e.data {
				if (!stmts[table].columns[field] || field == "scenario_id" || field == "created_at") && !seen[field] {
					seen[field] = true
					out[table] = append(out[table], truncate(field, 64))
				}
			}
		}
		if fields := out[table]; len(fields) > maxReportedFields {
			slices.Sort(fields)
			out[table] = append(fields[:maxReportedFields], fmt.Sprintf("… and %d more", len(fields)-maxReportedFields))
		} else {
			slices.Sort(fields)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// validate checks req and returns what to write; it touches no database.
func validate(req SaveRequest) (*plan, error) {
	p := &plan{name: strings.TrimSpace(req.Name), description: req.Description, tags: []string{}, byTable: map[string][]entity{}}
	if p.name == "" {
		return nil, input.Invalid("name", "give the scenario a name (1 to %d characters)", MaxNameLen)
	}
	if n := utf8.RuneCountInString(p.name); n > MaxNameLen {
		return nil, input.Invalid("name", "the name has %d characters; use at most %d", n, MaxNameLen)
	}
	if err := refuseControl("name", "the name", p.name); err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(p.description); n > MaxDescriptionLen {
		return nil, input.Invalid("description", "the description has %d characters; use at most %d", n, MaxDescriptionLen)
	}
	for _, t := range req.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if err := refuseControl("tags", fmt.Sprintf("the tag %q", t), t); err != nil {
			return nil, err
		}
		if n := utf8.RuneCountInString(t); n > MaxTagLen {
			return nil, input.Invalid("tags", "the tag %q has %d characters; use at most %d", truncate(t, 40), n, MaxTagLen)
		}
		if t != "" && !slices.Contains(p.tags, t) {
			p.tags = append(p.tags, t)
		}
	}
	if len(p.tags) > MaxTags {
		return nil, input.Invalid("tags", "%d tags; use at most %d", len(p.tags), MaxTags)
	}
	keys := make([]string, 0, len(req.Entities))
	for k := range req.Entities {
		keys = append(keys, k)
	}
	// "patient" and "patients" may both be given: merge them in a stable order.
	slices.Sort(keys)
	seen := map[string]map[string]string{} // table -> id -> where it was first seen
	for _, key := range keys {
		table, ok := CanonicalType(key)
		if !ok {
			return nil, input.Invalid("entities", "unknown entity type %q; valid types are %s (or their singular forms)",
				key, strings.Join(entityTypes, ", "))
		}
		if seen[table] == nil {
			seen[table] = map[string]string{}
		}
		for i, obj := range req.Entities[key] {
			where := fmt.Sprintf("entities.%s[%d]", key, i)
			if obj == nil {
				return nil, input.Invalid(where, "must be an object")
			}
			id, ok := entityID(obj, table)
			if !ok {
				return nil, input.Invalid(where, "has no id; give it a non-empty %s field",
					strings.Join(entityIDFields(table), " or "))
			}
			if first, dup := seen[table][id]; dup {
				return nil, input.Invalid(where, "duplicate id %q (also used by %s); ids must be unique within a type", id, first)
			}
			seen[table][id] = where
			doc, err := json.Marshal(obj)
			if err != nil {
				return nil, input.Invalid(where, "cannot be encoded as JSON: %v", err)
			}
			p.byTable[table] = append(p.byTable[table], entity{key: key, idx: i, id: id, doc: string(doc), data: obj})
			p.total++
		}
	}
	return p, nil
}

// refuseControl returns an *input.Error for field when s, which is what
// ("the name"), holds a control character (NUL, escape, newline, tab, DEL,
// C1) or a bidirectional formatting character: names and tags are shown
// as they are, in lists, logs and terminals, where these would be printed
// raw or reorder the text around them.
func refuseControl(field, what, s string) error {
	for i, r := range []rune(s) {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return input.Invalid(field, "%s has a control character (%U) at character %d; use letters, digits, punctuation and spaces", what, r, i+1)
		}
	}
	return nil
}

// entityID returns the entity's id from the first id field of its table
// that holds a non-empty string or a number.
func entityID(obj map[string]any, table string) (string, bool) {
	for _, f := range entityIDFields(table) {
		var id string
		switch v := obj[f].(type) {
		case string:
			id = strings.TrimSpace(v)
		case json.Number:
			id = v.String()
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			id = strconv.FormatFloat(v, 'f', -1, 64)
		case float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			id = fmt.Sprint(v)
		}
		if id != "" {
			return id, true
		}
	}
	return "", false
}

// column is a column of a canonical table, as duckdb_columns() reports it.
type column struct {
	Table string `db:"table_name"`
	Name  string `db:"column_name"`
	Type  string `db:"data_type"`
}

// tableSQL holds the statements that write one canonical table's rows
// from a batch of entity JSON documents.
type tableSQL struct {
	table     string
	columns   map[string]bool // the table's columns, by name
	insertSQL string          // $1 scenario id, $2 VARCHAR[] of entity JSON
	check     string          // $1 VARCHAR[]: the first entity and field DuckDB cannot cast, if any
}

// statements returns the per-table statements, building them from the
// catalog on first use (q is a write window's transaction: reads wait
// while it runs).
func (s *Store) statements(ctx context.Context, q sqlx.QueryerContext) (map[string]*tableSQL, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tables != nil {
		return s.tables, nil
	}
	var cols []column
	query, args, err := sqlx.In(`SELECT table_name, column_name, data_type FROM duckdb_columns()
		WHERE database_name = current_database() AND schema_name = 'main' AND table_name IN (?)
		ORDER BY table_name, column_index`, entityTypes)
	if err == nil {
		err = sqlx.SelectContext(ctx, q, &cols, query, args...)
	}
	if err != nil {
		return nil, fmt.Errorf("scenario: read the entity table columns: %w", err)
	}
	byTable := map[string][]column{}
	for _, c := range cols {
		byTable[c.Table] = append(byTable[c.Table], c)
	}
	tables := map[string]*tableSQL{}
	for _, t := range entityTypes {
		if len(byTable[t]) == 0 {
			return nil, fmt.Errorf("scenario: table %s is missing: is the database migrated?", t)
		}
		tables[t] = buildTableSQL(t, byTable[t])
	}
	s.tables = tables
	return tables, nil
}

func buildTableSQL(table string, cols []column) *tableSQL {
	var names, exprs, checks []string
	for _, c := range cols {
		field := "j->>" + quoteString(c.Name)
		var expr string
		switch {
		case c.Name == "scenario_id":
			expr = "$1"
		case c.Name == "created_at":
			continue // when the row was written: the column default
		case table == "patients" && c.Name == "mrn":
			// Entities link to a patient by patient_mrn (see Links): a
			// patient given only an id is linked by that id.
			expr = "coalesce(" + field + ", j->>'patient_id', j->>'id')"
		case c.Name == "source_type":
			expr = "coalesce(" + field + ", 'generated')"
		case c.Type == "VARCHAR":
			expr = field
		case c.Type == "JSON":
			expr = "nullif(j->" + quoteString(c.Name) + ", 'null')" // a JSON null is SQL NULL, as in other columns
		default:
			expr = "CAST(" + field + " AS " + c.Type + ")"
			checks = append(checks, fmt.Sprintf("CASE WHEN %s IS NOT NULL AND TRY_CAST(%s AS %s) IS NULL THEN %s END",
				field, field, c.Type, quoteString(c.Name+"|"+c.Type)))
		}
		names = append(names, quoteIdent(c.Name))
		exprs = append(exprs, expr)
	}
	ts := &tableSQL{table: table, columns: map[string]bool{}}
	for _, c := range cols {
		ts.columns[c.Name] = true
	}
	ts.insertSQL = fmt.Sprintf(`INSERT INTO %s (%s) SELECT %s FROM (SELECT unnest($2::VARCHAR[])::JSON AS j)`,
		quoteIdent(table), strings.Join(names, ", "), strings.Join(exprs, ", "))
	if len(checks) > 0 {
		ts.check = fmt.Sprintf(`SELECT i - 1 AS i, bad FROM (
			SELECT i, coalesce(%s) AS bad FROM (SELECT d::JSON AS j, i FROM unnest($1::VARCHAR[]) WITH ORDINALITY AS t(d, i)))
			WHERE bad IS NOT NULL ORDER BY i LIMIT 1`, strings.Join(checks, ", "))
	}
	return ts
}

// insert writes the canonical rows of one batch of entities (their
// scenario_entities rows go through entityRows). A value DuckDB cannot cast fails the statement
// (and so the window's transaction) with a *castError, which [Store.explain]
// turns into a *input.Error naming the entity and field once the
// window has rolled back: the check costs nothing when every value casts.
func (ts *tableSQL) insert(ctx context.Context, tx *sqlx.Tx, scenarioID string, batch []entity) error {
	docs := make([]string, len(batch))
	for i, e := range batch {
		docs[i] = e.doc
	}
	if _, err := tx.ExecContext(ctx, ts.insertSQL, scenarioID, docs); err != nil {
		err = fmt.Errorf("scenario: write %s (entities %s[%d] to [%d]): %w",
			ts.table, batch[0].key, batch[0].idx, batch[len(batch)-1].idx, err)
		if ts.check != "" {
			return &castError{ts: ts, batch: batch, docs: docs, err: err}
		}
		return err
	}
	return nil
}

// insertScenario inserts a new scenarios row, whose seq comes from the
// sequence scenarios_seq, and returns that seq; tags and counts are
// rowValues'.
func insertScenario(ctx context.Context, tx *sqlx.Tx, id, name, description string, created, updated time.Time, tags, counts string) (int64, error) {
	var seq int64
	err := tx.GetContext(ctx, &seq, `INSERT INTO scenarios (id, name, description, created_at, updated_at, tags, entity_counts)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq`, id, name, description, created, updated, tags, counts)
	return seq, err
}

// rowValues returns the tags (sorted) and the entity counts of entities by
// table, as the JSON a scenarios row keeps them in (migration 00008).
func rowValues[E any](tags []string, byTable map[string][]E) (tagsJSON, countsJSON string) {
	counts := map[string]int{}
	for table, es := range byTable {
		if len(es) > 0 {
			counts[table] = len(es)
		}
	}
	t, _ := json.Marshal(append([]string{}, slices.Sorted(slices.Values(tags))...))
	c, _ := json.Marshal(counts)
	return string(t), string(c)
}

// entityRows collects scenario_entities rows of several types, so that a
// small scenario takes one statement for all of them (each statement costs
// about half a millisecond inside a write window).
type entityRows struct {
	scenarioID       string
	seq              int64 // the scenario's
	types, ids, docs []string
}

// add collects batch's rows (of table) and writes what was collected once
// it holds batchSize rows.
func (r *entityRows) add(ctx context.Context, tx *sqlx.Tx, table string, batch []entity) error {
	for _, e := range batch {
		r.types, r.ids, r.docs = append(r.types, table), append(r.ids, e.id), append(r.docs, e.doc)
	}
	if len(r.ids) < batchSize {
		return nil
	}
	return r.flush(ctx, tx)
}

// flush writes the collected rows, in the order they were added.
func (r *entityRows) flush(ctx context.Context, tx *sqlx.Tx) error {
	if len(r.ids) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO scenario_entities (scenario_id, scenario_seq, entity_type, entity_id, entity_data)
		SELECT $1, $5, unnest($2::VARCHAR[]), unnest($3::VARCHAR[]), unnest($4::VARCHAR[])`, r.scenarioID, r.types, r.ids, r.docs, r.seq); err != nil {
		return fmt.Errorf("scenario: write entities: %w", err)
	}
	r.types, r.ids, r.docs = r.types[:0], r.ids[:0], r.docs[:0]
	return nil
}

// castError is a batch whose canonical insert failed, maybe on a value that
// does not cast to its column.
type castError struct {
	ts    *tableSQL
	batch []entity
	docs  []string
	err   error
}

func (e *castError) Error() string { return e.err.Error() }
func (e *castError) Unwrap() error { return e.err }

// explain turns a *castError in err into a *input.Error that names the
// first entity and field whose value does not cast, by running the table's
// check on the read pool (it reads no table); other errors pass unchanged.
func (s *Store) explain(ctx context.Context, err error) error {
	var ce *castError
	if !errors.As(err, &ce) {
		return err
	}
	var bad struct {
		I   int64  `db:"i"`
		Bad string `db:"bad"`
	}
	if checkErr := s.db.Read().GetContext(ctx, &bad, ce.ts.check, ce.docs); checkErr != nil {
		return err // the check found nothing to blame: report DuckDB's error
	}
	e := ce.batch[bad.I]
	field, typ, _ := strings.Cut(bad.Bad, "|")
	val, _ := json.Marshal(e.data[field])
	return input.Invalid(fmt.Sprintf("entities.%s[%d].%s", e.key, e.idx, field),
		"%s is not a valid %s (column %s.%s)", truncate(string(val), 80), typ, ce.ts.table, field)
}

// deleteContents deletes a scenario's tags, entities and canonical rows
// (not its scenarios row) and returns what it removed.
func deleteContents(ctx context.Context, tx *sqlx.Tx, id string) (DeleteResult, error) {
	res := DeleteResult{ID: id, Rows: map[string]int{}}
	exec := func(query string) (int, error) {
		r, err := tx.ExecContext(ctx, query, id)
		if err != nil {
			return 0, fmt.Errorf("scenario: delete %s: %w", id, err)
		}
		n, err := r.RowsAffected()
		return int(n), err
	}
	var err error
	if res.Tags, err = exec(`DELETE FROM scenario_tags WHERE scenario_id = $1`); err != nil {
		return res, err
	}
	if res.Entities, err = exec(`DELETE FROM scenario_entities WHERE scenario_id = $1`); err != nil {
		return res, err
	}
	for _, t := range entityTypes {
		n, err := exec(`DELETE FROM ` + quoteIdent(t) + ` WHERE scenario_id = $1`)
		if err != nil {
			return res, err
		}
		if n > 0 {
			res.Rows[t] = n
		}
	}
	return res, nil
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// truncate shortens s to at most n characters, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
