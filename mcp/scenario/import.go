package scenario

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/jmoiron/sqlx"
)

// ImportOutcome is what Import does, or would do, with a Record.
type ImportOutcome string

const (
	// ImportCreate: no scenario has the record's name. It is created with
	// the record's id, unless another scenario has that id (then a new one).
	ImportCreate ImportOutcome = "create"
	// ImportUnchanged: a scenario of that name has the same description,
	// tags and entities (type, id and entity_data byte for byte, in any
	// order). Nothing is written; times are not compared.
	ImportUnchanged ImportOutcome = "unchanged"
	// ImportReplace: a scenario of that name differs and overwrite was asked
	// for. It keeps its id; its description, times, tags and entities
	// become the record's.
	ImportReplace ImportOutcome = "replace"
	// ImportConflict: a scenario of that name differs and overwrite was not
	// asked for. Import fails with an error wrapping ErrExists.
	ImportConflict ImportOutcome = "conflict"
)

// ImportResult tells what Import did, or PlanImport would do, with one Record.
type ImportResult struct {
	Name     string        `json:"name"`
	ID       string        `json:"id"` // the scenario's id in the database (planned: as far as known now)
	Outcome  ImportOutcome `json:"outcome"`
	Entities int           `json:"entities"`
}

// prepared is a validated, normalized Record.
type prepared struct {
	rec    *Record
	name   string
	tags   []string            // normalized like Save's, sorted
	tables []string            // the tables with entities, in schema order
	byType map[string][]entity // table -> entities in record order
	total  int
}

// ValidateRecord checks that rec can be imported: a name Save would accept,
// known entity types, non-empty ids unique within their type, and a JSON
// object as each entity's data. It returns a *input.Error naming the
// first problem, and touches no database.
func ValidateRecord(rec *Record) error {
	_, err := prepare(rec)
	return err
}

func prepare(rec *Record) (*prepared, error) {
	p := &prepared{rec: rec, name: strings.TrimSpace(rec.Name), tags: []string{}, byType: map[string][]entity{}}
	if p.name == "" {
		return nil, input.Invalid("name", "the scenario has no name")
	}
	if n := utf8.RuneCountInString(p.name); n > MaxNameLen {
		return nil, input.Invalid("name", "%q has %d characters; use at most %d", truncate(p.name, 40), n, MaxNameLen)
	}
	if err := refuseControl("name", fmt.Sprintf("the name %q", truncate(p.name, 40)), p.name); err != nil {
		return nil, err
	}
	for _, t := range rec.Tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if err := refuseControl("tags", fmt.Sprintf("the tag %q", t), t); err != nil {
			return nil, err
		}
		if t != "" && !slices.Contains(p.tags, t) {
			p.tags = append(p.tags, t)
		}
	}
	slices.Sort(p.tags)
	seen := map[string]map[string]bool{}
	for i, e := range rec.Entities {
		where := fmt.Sprintf("entities[%d]", i)
		table, ok := CanonicalType(e.Type)
		if !ok {
			return nil, input.Invalid(where+".entity_type", "unknown entity type %q; valid types are %s",
				e.Type, strings.Join(entityTypes, ", "))
		}
		id := strings.TrimSpace(e.ID)
		if id == "" {
			return nil, input.Invalid(where+".entity_id", "the %s entity has no id", table)
		}
		if seen[table] == nil {
			seen[table] = map[string]bool{}
		}
		if seen[table][id] {
			return nil, input.Invalid(where+".entity_id", "duplicate %s id %q; ids must be unique within a type", table, id)
		}
		seen[table][id] = true
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(e.Data))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil || data == nil || dec.More() {
			return nil, input.Invalid(where+".entity_data", "the data of %s %q is not a JSON object", table, id)
		}
		p.byType[table] = append(p.byType[table], entity{key: table, idx: len(p.byType[table]), id: id, doc: string(e.Data), data: data})
		p.total++
	}
	for _, t := range entityTypes {
		if len(p.byType[t]) > 0 {
			p.tables = append(p.tables, t)
		}
	}
	return p, nil
}

func prepareAll(recs []*Record) ([]*prepared, error) {
	ps := make([]*prepared, len(recs))
	names := map[string]bool{}
	for i, rec := range recs {
		p, err := prepare(rec)
		if err != nil {
			return nil, fmt.Errorf("scenario %q: %w", rec.Name, err)
		}
		if names[p.name] {
			return nil, fmt.Errorf("scenario %q: %w", p.name, input.Invalid("name", "the scenario %q is given twice", p.name))
		}
		names[p.name] = true
		ps[i] = p
	}
	return ps, nil
}

// sameContent reports whether the scenario old (read from the database)
// has p's description, tags and entities.
func (p *prepared) sameContent(old *Record) bool {
	if old.Description != p.rec.Description || !slices.Equal(old.Tags, p.tags) || len(old.Entities) != p.total {
		return false
	}
	type key struct{ typ, id string }
	have := make(map[key][]byte, len(old.Entities))
	for _, e := range old.Entities {
		have[key{e.Type, e.ID}] = e.Data
	}
	for table, es := range p.byType {
		for _, e := range es {
			data, ok := have[key{table, e.id}]
			if !ok || string(data) != e.doc {
				return false
			}
		}
	}
	return true
}

// PlanImport tells what Import(ctx, recs, overwrite) would do with each
// record, reading through the read pool; it changes nothing. Invalid
// records give an error, as Import would.
func (s *Store) PlanImport(ctx context.Context, recs []*Record, overwrite bool) ([]ImportResult, error) {
	ps, err := prepareAll(recs)
	if err != nil {
		return nil, err
	}
	out := make([]ImportResult, len(ps))
	for i, p := range ps {
		err := s.readTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			out[i], _, err = planImport(ctx, tx, p, overwrite)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// planImport decides what to do with p, through q, and returns the existing
// scenario's header when there is one. In Import, q is the write window's
// transaction: its name and id checks are what keep names and ids unique
// (the schema has no constraint for them), records earlier in the same
// window included.
func planImport(ctx context.Context, q sqlx.QueryerContext, p *prepared, overwrite bool) (ImportResult, *header, error) {
	res := ImportResult{Name: p.name, ID: p.rec.ID, Entities: p.total, Outcome: ImportCreate}
	var h header
	err := sqlx.GetContext(ctx, q, &h, rowSelect+` WHERE name = $1 LIMIT 1`, p.name)
	if errors.Is(err, sql.ErrNoRows) {
		var taken bool
		if err := sqlx.GetContext(ctx, q, &taken, `SELECT EXISTS (SELECT 1 FROM scenarios WHERE id = $1)`, p.rec.ID); err != nil {
			return res, nil, fmt.Errorf("scenario: import %q: %w", p.name, err)
		}
		if taken || strings.TrimSpace(p.rec.ID) == "" {
			res.ID = "" // a new id is made when it is written
		}
		return res, nil, nil
	}
	if err != nil {
		return res, nil, fmt.Errorf("scenario: import %q: %w", p.name, err)
	}
	res.ID = h.ID
	_, total := h.counts()
	same := total == p.total
	if same {
		old, err := readRecord(ctx, q, h)
		if err != nil {
			return res, nil, err
		}
		same = p.sameContent(old)
	}
	switch {
	case same:
		res.Outcome = ImportUnchanged
	case overwrite:
		res.Outcome = ImportReplace
	default:
		res.Outcome = ImportConflict
	}
	return res, &h, nil
}

// Import writes recs in one write window: each record's scenario is
// created, left unchanged or replaced as [ImportOutcome] describes. Entities
// keep their entity_data byte for byte; scenarios keep the records' times;
// canonical rows are derived as Save derives them. All or nothing: an
// invalid record, a value a canonical column cannot take (a
// *input.Error), or a conflict without overwrite (an error wrapping
// ErrExists) leaves the database unchanged.
//
// Keep recs to a few dozen scenarios per call: other processes cannot read
// the file while the window runs, and get their turn between calls.
func (s *Store) Import(ctx context.Context, recs []*Record, overwrite bool) ([]ImportResult, error) {
	ps, err := prepareAll(recs)
	if err != nil {
		return nil, err
	}
	out := make([]ImportResult, len(ps))
	err = s.db.Write(ctx, func(tx *sqlx.Tx) error {
		stmts, err := s.statements(ctx, tx)
		if err != nil {
			return err
		}
		for i, p := range ps {
			if out[i], err = importOne(ctx, tx, stmts, p, overwrite); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.explain(ctx, err)
	}
	return out, nil
}

func importOne(ctx context.Context, tx *sqlx.Tx, stmts map[string]*tableSQL, p *prepared, overwrite bool) (ImportResult, error) {
	res, old, err := planImport(ctx, tx, p, overwrite)
	if err != nil {
		return res, err
	}
	rec := p.rec
	tags, counts := rowValues(p.tags, p.byType)
	var seq int64
	switch res.Outcome {
	case ImportUnchanged:
		return res, nil
	case ImportConflict:
		return res, fmt.Errorf("%w: %q (id %s) has other content than the one imported; import with overwrite to replace it, or rename one of them",
			ErrExists, p.name, old.ID)
	case ImportReplace:
		if _, err := deleteContents(ctx, tx, res.ID); err != nil {
			return res, err
		}
		seq = old.Seq
		if _, err := tx.ExecContext(ctx, `UPDATE scenarios SET description = $2, created_at = $3, updated_at = $4, tags = $5, entity_counts = $6 WHERE id = $1`,
			res.ID, rec.Description, rec.CreatedAt.UTC(), rec.UpdatedAt.UTC(), tags, counts); err != nil {
			return res, fmt.Errorf("scenario: import %q: %w", p.name, err)
		}
	case ImportCreate:
		if res.ID == "" {
			res.ID = newID()
		}
		if seq, err = insertScenario(ctx, tx, res.ID, p.name, rec.Description, rec.CreatedAt.UTC(), rec.UpdatedAt.UTC(), tags, counts); err != nil {
			return res, fmt.Errorf("scenario: import %q: %w", p.name, err)
		}
	}
	if len(p.tags) > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO scenario_tags (scenario_id, tag) SELECT $1, unnest($2::VARCHAR[])`,
			res.ID, p.tags); err != nil {
			return res, fmt.Errorf("scenario: import tags of %q: %w", p.name, err)
		}
	}
	rows := &entityRows{scenarioID: res.ID, seq: seq}
	for _, table := range p.tables {
		es := p.byType[table]
		for start := 0; start < len(es); start += batchSize {
			batch := es[start:min(start+batchSize, len(es))]
			if err := stmts[table].insert(ctx, tx, res.ID, batch); err != nil {
				return res, fmt.Errorf("scenario %q: %w", p.name, err)
			}
			if err := rows.add(ctx, tx, table, batch); err != nil {
				return res, fmt.Errorf("scenario %q: %w", p.name, err)
			}
		}
	}
	if err := rows.flush(ctx, tx); err != nil {
		return res, fmt.Errorf("scenario %q: %w", p.name, err)
	}
	return res, nil
}
