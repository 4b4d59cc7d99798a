package scenario

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/jmoiron/sqlx"
)

// Limits of List and Summary. A listed scenario's description is cut to
// listDescriptionLen characters (older files may hold longer ones than
// Save now takes; Load and Summary cut them to MaxDescriptionLen).
const (
	listDescriptionLen = 300
	DefaultListLimit   = 50
	MaxListLimit       = 200
	MaxSamplesPerType  = 10
	// A sample shows at most maxSampleFields fields, strings cut to
	// maxSampleString characters, so a summary fits a model's context.
	maxSampleFields = 8
	maxSampleString = 80
)

// Overview is what Load and Summary both tell of a scenario: who it is and
// how many entities of each type it has.
type Overview struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Description   string         `json:"description"`
	Tags          []string       `json:"tags"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
	TotalEntities int            `json:"total_entities"`
	EntityCounts  map[string]int `json:"entity_counts"`
}

// Scenario is a saved scenario as Load returns it.
type Scenario struct {
	Overview
	// Entities maps each entity type to its entities' JSON exactly as saved,
	// in the order they were saved. Only set when asked for.
	Entities map[string][]json.RawMessage `json:"entities,omitempty"`
}

// ListEntry is one scenario in a List result.
type ListEntry struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Tags        []string  `json:"tags"`
	EntityCount int       `json:"entity_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ListOptions filter List.
type ListOptions struct {
	Tag    string // exact tag (compared lowercased); empty: any
	Search string // substring of the name or description, any case; empty: any
	Limit  int    // 1 to MaxListLimit; 0 means DefaultListLimit
}

// ScenarioSummary is a scenario's counts and a few shortened sample entities.
type ScenarioSummary struct {
	Overview
	// Samples holds up to samplesPerType entities per type, each with at most
	// 8 fields (id fields first; "_more_fields" counts the others left out)
	// and strings cut to 80 characters. Only set when asked for.
	Samples map[string][]map[string]any `json:"samples,omitempty"`
}

// header is a scenarios row: with its tags and entity counts, which
// writes keep on the row (migration 00008), and its seq, by which its
// entities are found.
type header struct {
	ID          string    `db:"id"`
	Name        string    `db:"name"`
	Description string    `db:"description"`
	CreatedAt   time.Time `db:"created_at"`
	UpdatedAt   time.Time `db:"updated_at"`
	Seq         int64     `db:"seq"`
	Tags        string    `db:"tags"`          // a JSON array, sorted
	Counts      string    `db:"entity_counts"` // a JSON object: entity type -> count
}

// headerColumns are the scenarios columns a header holds, for a table
// aliased s.
const headerColumns = `s.id, s.name, coalesce(s.description, '') AS description, s.created_at, s.updated_at,
	s.seq, s.tags, s.entity_counts`

// rowSelect reads scenarios rows into headers; the caller adds WHERE and
// ORDER BY clauses on alias s.
const rowSelect = `SELECT ` + headerColumns + ` FROM scenarios s`

func (h header) tags() []string {
	tags := []string{}
	_ = json.Unmarshal([]byte(h.Tags), &tags) // written by to_json of a VARCHAR list
	return tags
}

// counts returns the entities per type, and their total.
func (h header) counts() (map[string]int, int) {
	counts := map[string]int{}
	_ = json.Unmarshal([]byte(h.Counts), &counts) // written by json_group_object of counts
	total := 0
	for _, n := range counts {
		total += n
	}
	return counts, total
}

// readTx runs fn in one transaction on the read pool, so that its queries
// see one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.Read().BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("scenario: read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// lookupQuery finds the scenarios rows whose id or whose name is $1: one
// statement, two index lookups, at most two rows, by_name telling which.
// lookup prefers the id's in Go: ORDER BY by_name LIMIT 1 in SQL made
// the statement slower (a top-N step after the union).
const lookupQuery = `SELECT ` + headerColumns + `, false AS by_name FROM scenarios s WHERE s.id = $1
	UNION ALL SELECT ` + headerColumns + `, true FROM scenarios s WHERE s.name = $1`

// lookupRow is a row of lookupQuery.
type lookupRow struct {
	header
	ByName bool `db:"by_name"`
}

// lookup finds a scenarios row by id, then by name, through q.
func lookup(ctx context.Context, q sqlx.QueryerContext, nameOrID string) (header, error) {
	return lookupWith(nameOrID, func(h *header, key string) error {
		var rows []lookupRow
		if err := sqlx.SelectContext(ctx, q, &rows, lookupQuery, key); err != nil {
			return err
		}
		if len(rows) == 0 {
			return sql.ErrNoRows
		}
		i := slices.IndexFunc(rows, func(r lookupRow) bool { return !r.ByName })
		*h = rows[max(i, 0)].header
		return nil
	})
}

// readLookup is lookup on the read pool, or on tx (one of its
// transactions) if not nil.
func (s *Store) readLookup(ctx context.Context, tx *sqlx.Tx, nameOrID string) (header, error) {
	if tx != nil {
		return lookup(ctx, tx, nameOrID)
	}
	return lookup(ctx, s.db.Read(), nameOrID)
}

// lookupWith runs get for the trimmed nameOrID and turns no row into
// ErrNotFound.
func lookupWith(nameOrID string, get func(h *header, key string) error) (header, error) {
	key := strings.TrimSpace(nameOrID)
	var h header
	if key == "" {
		return h, input.Invalid("name_or_id", "give the name or id of a scenario")
	}
	err := get(&h, key)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("%w: %q is not the name or id of any scenario", ErrNotFound, key)
	}
	if err != nil {
		return h, fmt.Errorf("scenario: read %q: %w", key, err)
	}
	return h, nil
}

// overview is what Load and Summary tell of the scenario of h.
func (h header) overview() Overview {
	counts, total := h.counts()
	return Overview{ID: h.ID, Name: h.Name, Description: truncate(h.Description, MaxDescriptionLen), Tags: h.tags(),
		CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt, TotalEntities: total, EntityCounts: counts}
}

// Load returns the scenario whose id or name is nameOrID, with its entities
// if includeEntities, or an error wrapping ErrNotFound.
func (s *Store) Load(ctx context.Context, nameOrID string, includeEntities bool) (*Scenario, error) {
	if !includeEntities { // one statement: no transaction needed
		h, err := s.readLookup(ctx, nil, nameOrID)
		if err != nil {
			return nil, err
		}
		return &Scenario{Overview: h.overview()}, nil
	}
	var sc *Scenario
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		h, err := s.readLookup(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		sc = &Scenario{Overview: h.overview()}
		rows, err := tx.QueryContext(ctx, `SELECT entity_type, entity_data::VARCHAR FROM scenario_entities
			WHERE scenario_seq = $2 AND scenario_id = $1 ORDER BY entity_type, rowid`, h.ID, h.Seq)
		if err != nil {
			return fmt.Errorf("scenario: load entities: %w", err)
		}
		defer rows.Close()
		sc.Entities = map[string][]json.RawMessage{}
		for rows.Next() {
			var typ, data string
			if err := rows.Scan(&typ, &data); err != nil {
				return fmt.Errorf("scenario: load entities: %w", err)
			}
			sc.Entities[typ] = append(sc.Entities[typ], json.RawMessage(data))
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return sc, nil
}

// Limits of LoadPage.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
	// MaxPageBytes bounds the entity JSON of one page (about 25k tokens),
	// so that a page fits a model's context and a client's message size.
	MaxPageBytes = 100_000
)

// PageRequest selects a page of a scenario's entities.
type PageRequest struct {
	Type   string // an entity type (plural or singular); "" for every type
	Offset int    // entities to skip, in the order Load gives them
	Limit  int    // 1 to MaxPageLimit; 0 means DefaultPageLimit
}

// Page is a page of a scenario's entities: at most Limit of them and
// MaxPageBytes of JSON, in the order Load gives them (by type, then as
// saved).
type Page struct {
	Overview
	Entities map[string][]json.RawMessage
	PageInfo
}

// PageInfo says which entities a page holds and how to get the rest.
type PageInfo struct {
	EntityType string `json:"entity_type,omitempty"` // the type asked for; "" for all
	Offset     int    `json:"offset"`
	Returned   int    `json:"returned"`
	Total      int    `json:"total"` // the entities of EntityType (or all) in the scenario
	// NextOffset is the offset of the next page; absent on the last.
	NextOffset *int `json:"next_offset,omitempty"`
	// Note says, when there is more, that the page is bounded and how to
	// get the rest.
	Note string `json:"note,omitempty"`
}

// LoadPage returns the scenario whose id or name is nameOrID with one page
// of its entities. An entity larger than MaxPageBytes on its own comes as
// an object that says so and how to read it with SQL.
func (s *Store) LoadPage(ctx context.Context, nameOrID string, req PageRequest) (*Page, error) {
	limit := cmp.Or(req.Limit, DefaultPageLimit)
	if limit < 1 || limit > MaxPageLimit {
		return nil, input.Invalid("limit", "must be between 1 and %d, got %d", MaxPageLimit, req.Limit)
	}
	if req.Offset < 0 {
		return nil, input.Invalid("offset", "must not be negative, got %d", req.Offset)
	}
	typ := strings.TrimSpace(req.Type)
	if typ != "" {
		table, ok := CanonicalType(typ)
		if !ok {
			return nil, input.Invalid("entity_type", "unknown entity type %q; valid types are %s", typ, strings.Join(entityTypes, ", "))
		}
		typ = table
	}
	var page *Page
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		h, err := s.readLookup(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		page = &Page{Overview: h.overview(), Entities: map[string][]json.RawMessage{},
			PageInfo: PageInfo{EntityType: typ, Offset: req.Offset}}
		page.Total = page.TotalEntities
		if typ != "" {
			page.Total = page.EntityCounts[typ]
		}
		rows, err := tx.QueryContext(ctx, `SELECT entity_type, entity_id, entity_data::VARCHAR FROM scenario_entities
			WHERE scenario_seq = $2 AND scenario_id = $1 AND ($3 = '' OR entity_type = $3)
			ORDER BY entity_type, rowid LIMIT $4 OFFSET $5`, h.ID, h.Seq, typ, limit, req.Offset)
		if err != nil {
			return fmt.Errorf("scenario: load entities: %w", err)
		}
		defer rows.Close()
		size, cut := 0, false
		for rows.Next() {
			var etype, id, data string
			if err := rows.Scan(&etype, &id, &data); err != nil {
				return fmt.Errorf("scenario: load entities: %w", err)
			}
			if size+len(data) > MaxPageBytes {
				if page.Returned > 0 {
					cut = true
					break
				}
				data = oversized(h.ID, etype, id, len(data))
			}
			size += len(data)
			page.Entities[etype] = append(page.Entities[etype], json.RawMessage(data))
			page.Returned++
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("scenario: load entities: %w", err)
		}
		if next := req.Offset + page.Returned; next < page.Total {
			page.NextOffset = &next
			bound := fmt.Sprintf("at most %d entities", limit)
			if cut {
				bound = fmt.Sprintf("at most %d bytes of entities", MaxPageBytes)
			}
			of, same := "entities", ""
			if typ != "" {
				of, same = typ, fmt.Sprintf(" and entity_type %q", typ)
			}
			page.Note = fmt.Sprintf("This page holds %s %d to %d of %d (a page holds %s). For the next page, call healthsim_load_scenario again with offset %d%s.",
				of, req.Offset+1, next, page.Total, bound, next, same)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

// oversized is what a page holds in place of an entity of size bytes,
// over MaxPageBytes on its own.
func oversized(scenarioID, typ, id string, size int) string {
	b, _ := json.Marshal(map[string]any{
		"_omitted": fmt.Sprintf("This %s entity (id %s) is %d bytes, more than a page holds (%d). Read its fields with healthsim_query.", typ, id, size, MaxPageBytes),
		"_sql": fmt.Sprintf("SELECT json_keys(entity_data) FROM scenario_entities WHERE scenario_id = '%s' AND entity_type = '%s' AND entity_id = '%s'",
			scenarioID, typ, strings.ReplaceAll(id, "'", "''")),
	})
	return string(b)
}

// List returns the scenarios matching opts, most recently saved first.
func (s *Store) List(ctx context.Context, opts ListOptions) ([]ListEntry, error) {
	limit := opts.Limit
	if limit == 0 {
		limit = DefaultListLimit
	}
	if limit < 1 || limit > MaxListLimit {
		return nil, input.Invalid("limit", "must be between 1 and %d, got %d", MaxListLimit, opts.Limit)
	}
	tag := strings.ToLower(strings.TrimSpace(opts.Tag))
	search := strings.ToLower(strings.TrimSpace(opts.Search))
	var rows []header
	err := s.db.Read().SelectContext(ctx, &rows, rowSelect+`
		WHERE ($1 = '' OR EXISTS (SELECT 1 FROM scenario_tags t WHERE t.scenario_id = s.id AND t.tag = $1))
		  AND ($2 = '' OR contains(lower(s.name), $2) OR contains(lower(coalesce(s.description, '')), $2))
		ORDER BY s.updated_at DESC, s.created_at DESC, s.name LIMIT $3`, tag, search, limit)
	if err != nil {
		return nil, fmt.Errorf("scenario: list: %w", err)
	}
	return listEntries(rows), nil
}

// Summary returns the counts per entity type of the scenario whose id or
// name is nameOrID and, if includeSamples, up to samplesPerType (1 to
// MaxSamplesPerType) shortened sample entities per type, the first saved.
func (s *Store) Summary(ctx context.Context, nameOrID string, includeSamples bool, samplesPerType int) (*ScenarioSummary, error) {
	if includeSamples && (samplesPerType < 1 || samplesPerType > MaxSamplesPerType) {
		return nil, input.Invalid("samples_per_type", "must be between 1 and %d, got %d", MaxSamplesPerType, samplesPerType)
	}
	if !includeSamples { // one statement: no transaction needed
		h, err := s.readLookup(ctx, nil, nameOrID)
		if err != nil {
			return nil, err
		}
		return &ScenarioSummary{Overview: h.overview()}, nil
	}
	var sum *ScenarioSummary
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		h, err := s.readLookup(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		sum = &ScenarioSummary{Overview: h.overview()}
		// min_by(…, n) keeps the first n per type, in order, without
		// sorting them all (half the time of a row_number() window).
		rows, err := tx.QueryContext(ctx, `SELECT entity_type, min_by(entity_data::VARCHAR, rowid, $2)
			FROM scenario_entities WHERE scenario_seq = $3 AND scenario_id = $1 GROUP BY entity_type`, h.ID, samplesPerType, h.Seq)
		if err != nil {
			return fmt.Errorf("scenario: read samples: %w", err)
		}
		defer rows.Close()
		sum.Samples = map[string][]map[string]any{}
		for rows.Next() {
			var typ string
			var docs []any
			if err := rows.Scan(&typ, &docs); err != nil {
				return fmt.Errorf("scenario: read samples: %w", err)
			}
			for _, doc := range docs {
				sum.Samples[typ] = append(sum.Samples[typ], shorten(doc.(string), entityIDFields(typ)))
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// shorten makes a sample of an entity: id fields first, then the others in
// name order, nulls left out, at most maxSampleFields fields, strings and
// nested values (as JSON text) cut to maxSampleString characters.
func shorten(doc string, idFields []string) map[string]any {
	var obj map[string]any
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber() // keep numbers as written
	if err := dec.Decode(&obj); err != nil {
		return map[string]any{"_unreadable": truncate(doc, maxSampleString)}
	}
	keys := make([]string, 0, len(obj))
	for k, v := range obj {
		if v != nil {
			keys = append(keys, k)
		}
	}
	rank := func(k string) int {
		if i := slices.Index(idFields, k); i >= 0 {
			return i
		}
		return len(idFields)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := rank(a) - rank(b); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	out := map[string]any{}
	for _, k := range keys[:min(len(keys), maxSampleFields)] {
		switch v := obj[k].(type) {
		case string:
			out[k] = truncate(v, maxSampleString)
		case map[string]any, []any:
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(v) // decoded JSON always encodes
			out[k] = truncate(strings.TrimSpace(b.String()), maxSampleString)
		default:
			out[k] = v
		}
	}
	if more := len(keys) - maxSampleFields; more > 0 {
		out["_more_fields"] = more
	}
	return out
}

// DeleteResult reports what Delete removed.
type DeleteResult struct {
	ID       string         `json:"id"`
	Name     string         `json:"name"`
	Entities int            `json:"entities"` // scenario_entities rows
	Tags     int            `json:"tags"`
	Rows     map[string]int `json:"rows"` // canonical table -> rows removed
}

// Delete removes the scenario whose id or name is nameOrID, with its tags,
// entities and canonical rows, in one write window; an error wrapping
// ErrNotFound if there is none.
func (s *Store) Delete(ctx context.Context, nameOrID string) (DeleteResult, error) {
	var res DeleteResult
	err := s.db.Write(ctx, func(tx *sqlx.Tx) error {
		id, name, err := resolve(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		if res, err = deleteContents(ctx, tx, id); err != nil {
			return err
		}
		res.Name = name
		if _, err := tx.ExecContext(ctx, `DELETE FROM scenarios WHERE id = $1`, id); err != nil {
			return fmt.Errorf("scenario: delete %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return DeleteResult{}, err
	}
	return res, nil
}

// ByName returns up to limit (1 to MaxListLimit) scenarios whose names sort
// after after, in name order: a page of every scenario, which the next page
// continues from its last name.
func (s *Store) ByName(ctx context.Context, after string, limit int) ([]ListEntry, error) {
	if limit < 1 || limit > MaxListLimit {
		return nil, input.Invalid("limit", "must be between 1 and %d, got %d", MaxListLimit, limit)
	}
	var rows []header
	err := s.db.Read().SelectContext(ctx, &rows, rowSelect+` WHERE s.name > $1 ORDER BY s.name LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("scenario: list by name: %w", err)
	}
	return listEntries(rows), nil
}

func listEntries(rows []header) []ListEntry {
	out := make([]ListEntry, len(rows))
	for i, h := range rows {
		_, total := h.counts()
		out[i] = ListEntry{ID: h.ID, Name: h.Name, Description: truncate(h.Description, listDescriptionLen), Tags: h.tags(),
			EntityCount: total, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt}
	}
	return out
}

// Completions are the values that complete what a person has typed so far,
// and how many match in all.
type Completions struct {
	Values []string
	Total  int
}

// CompleteNames returns up to limit scenario names that start with prefix
// (any case), in name order.
func (s *Store) CompleteNames(ctx context.Context, prefix string, limit int) (Completions, error) {
	return complete(ctx, s.db.Read(), `SELECT name AS v, count(*) OVER () AS total FROM scenarios
		WHERE starts_with(lower(name), lower($1)) ORDER BY name LIMIT $2`, prefix, limit)
}

// CompleteTags returns up to limit tags in use that start with prefix (any
// case), in order.
func (s *Store) CompleteTags(ctx context.Context, prefix string, limit int) (Completions, error) {
	return complete(ctx, s.db.Read(), `SELECT tag AS v, count(*) OVER () AS total FROM (SELECT DISTINCT tag FROM scenario_tags)
		WHERE starts_with(tag, lower($1)) ORDER BY tag LIMIT $2`, prefix, limit)
}

// complete runs a completion query whose rows are (v, total).
func complete(ctx context.Context, q sqlx.QueryerContext, query string, args ...any) (Completions, error) {
	var rows []struct {
		V     string `db:"v"`
		Total int    `db:"total"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, query, args...); err != nil {
		return Completions{}, fmt.Errorf("scenario: complete: %w", err)
	}
	out := Completions{Values: make([]string, len(rows))}
	for i, r := range rows {
		out.Values[i] = r.V
		out.Total = r.Total
	}
	return out, nil
}
