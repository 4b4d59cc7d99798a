package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Record is a scenario as export and import move it between databases: its
// header and every entity exactly as saved. Package archive writes and
// reads Records as files.
type Record struct {
	ID          string
	Name        string
	Description string
	Tags        []string  // sorted
	CreatedAt   time.Time // UTC, to the microsecond
	UpdatedAt   time.Time
	// Entities are in the order Load gives them: by type, then as saved.
	Entities []EntityRecord
}

// EntityRecord is one entity of a [Record].
type EntityRecord struct {
	Type string          // the canonical type (table name), e.g. "patients"
	ID   string          // its id, unique within the type
	Data json.RawMessage // its entity_data exactly as saved: a JSON object
}

// Filter selects scenarios for Find and Prune. The zero Filter selects
// every scenario; with both fields set, a scenario must match both.
type Filter struct {
	// Tag keeps scenarios with this tag (compared trimmed and lowercased).
	Tag string
	// UpdatedBefore keeps scenarios last saved (updated_at) before it.
	UpdatedBefore time.Time
}

// IsZero reports whether f selects every scenario.
func (f Filter) IsZero() bool {
	return strings.TrimSpace(f.Tag) == "" && f.UpdatedBefore.IsZero()
}

// where returns the condition on scenarios s for f and its two arguments,
// numbered from n.
func (f Filter) where(n int) (string, []any) {
	var before any // NULL: any time
	if !f.UpdatedBefore.IsZero() {
		// updated_at holds UTC wall-clock time without a zone.
		before = f.UpdatedBefore.UTC().Format("2006-01-02 15:04:05.999999")
	}
	cond := fmt.Sprintf(`($%[1]d = '' OR EXISTS (SELECT 1 FROM scenario_tags t WHERE t.scenario_id = s.id AND t.tag = $%[1]d))
		AND ($%[2]d::VARCHAR IS NULL OR s.updated_at < $%[2]d::TIMESTAMP)`, n, n+1)
	return cond, []any{strings.ToLower(strings.TrimSpace(f.Tag)), before}
}

// Find returns every scenario that f selects, least recently saved first
// (then by name), without List's limit, through the read pool.
func (s *Store) Find(ctx context.Context, f Filter) ([]ListEntry, error) {
	cond, args := f.where(1)
	var rows []header
	if err := s.db.Read().SelectContext(ctx, &rows, rowSelect+` WHERE `+cond+` ORDER BY s.updated_at, s.name`, args...); err != nil {
		return nil, fmt.Errorf("scenario: find: %w", err)
	}
	out := listEntries(rows)
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC()
	}
	return out, nil
}

// Export returns the scenario whose id or name is nameOrID with all its
// entities, read in one transaction of the read pool, or an error wrapping
// ErrNotFound.
func (s *Store) Export(ctx context.Context, nameOrID string) (*Record, error) {
	var rec *Record
	err := s.readTx(ctx, func(tx *sqlx.Tx) error {
		h, err := lookup(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		rec, err = readRecord(ctx, tx, h)
		return err
	})
	return rec, err
}

// readRecord reads the Record of the scenario whose header is h through q
// (a read transaction or a write window's).
func readRecord(ctx context.Context, q sqlx.QueryerContext, h header) (*Record, error) {
	rec := &Record{ID: h.ID, Name: h.Name, Description: h.Description, Tags: h.tags(),
		CreatedAt: h.CreatedAt.UTC(), UpdatedAt: h.UpdatedAt.UTC(), Entities: []EntityRecord{}}
	rows, err := q.QueryxContext(ctx, `SELECT entity_type, entity_id, entity_data::VARCHAR FROM scenario_entities
		WHERE scenario_seq = $2 AND scenario_id = $1 ORDER BY entity_type, rowid`, h.ID, h.Seq)
	if err != nil {
		return nil, fmt.Errorf("scenario: read entities of %q: %w", h.Name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var e EntityRecord
		var data string
		if err := rows.Scan(&e.Type, &e.ID, &data); err != nil {
			return nil, fmt.Errorf("scenario: read entities of %q: %w", h.Name, err)
		}
		e.Data = json.RawMessage(data)
		rec.Entities = append(rec.Entities, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scenario: read entities of %q: %w", h.Name, err)
	}
	return rec, nil
}
