package scenario

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Prune deletes, in one write window, each scenario of ids that f still
// selects, with its tags, entities and canonical rows (as Delete does). A
// scenario saved again or retagged since [Store.Find] listed it, or
// deleted meanwhile, is left alone. It returns what it removed, in the
// order of ids. f must not be the zero Filter: Prune never deletes
// unconditionally.
//
// Keep ids to a few dozen per call: other processes cannot read the file
// while the window runs, and get their turn between calls.
func (s *Store) Prune(ctx context.Context, ids []string, f Filter) ([]DeleteResult, error) {
	if f.IsZero() {
		return nil, errors.New("scenario: prune needs a filter: a tag, a time, or both")
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var out []DeleteResult
	err := s.db.Write(ctx, func(tx *sqlx.Tx) error {
		out = out[:0]
		cond, args := f.where(2)
		var still []struct {
			ID   string `db:"id"`
			Name string `db:"name"`
		}
		if err := tx.SelectContext(ctx, &still, `SELECT s.id, s.name FROM scenarios s
			WHERE list_contains($1::VARCHAR[], s.id) AND `+cond, append([]any{ids}, args...)...); err != nil {
			return fmt.Errorf("scenario: prune: %w", err)
		}
		names := make(map[string]string, len(still))
		for _, sc := range still {
			names[sc.ID] = sc.Name
		}
		for _, id := range ids {
			name, ok := names[id]
			if !ok {
				continue
			}
			delete(names, id) // an id given twice is deleted once
			res, err := deleteContents(ctx, tx, id)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM scenarios WHERE id = $1`, id); err != nil {
				return fmt.Errorf("scenario: delete %s: %w", id, err)
			}
			res.Name = name
			out = append(out, res)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
