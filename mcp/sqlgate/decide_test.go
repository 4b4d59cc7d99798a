package sqlgate

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestDecideBoundsTheQuery: the text Run executes is the caller's SQL with
// a LIMIT appended when that LIMIT becomes the outermost query's, the
// subquery wrapper when not, and the SQL itself only when neither parses;
// the bounded forms return at most maxRows+1 rows and keep the caller's
// order.
func TestDecideBoundsTheQuery(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const maxRows = 3
	for _, c := range []struct {
		sql, form string // form: appended, wrapped or itself
		first     int64  // the first row's value, -1 to skip the check
	}{
		{"SELECT * FROM range(10)", "appended", 0},
		{"SELECT * FROM range(10) ORDER BY 1 DESC", "appended", 9},
		{"SELECT 7 UNION ALL SELECT * FROM range(10)", "appended", -1},
		{"SELECT * FROM range(10) -- a trailing comment", "appended", 0},
		{"WITH r AS (SELECT * FROM range(10)) SELECT * FROM r ORDER BY 1 DESC", "appended", 9},
		{"SELECT * FROM (SELECT * FROM range(10) LIMIT 8)", "appended", 0},
		{"SELECT * FROM range(10) UNION ALL (SELECT * FROM range(10) LIMIT 2)", "appended", -1},
		{"SELECT * FROM range(10) LIMIT 5", "wrapped", 0},
		{"SELECT * FROM range(10) ORDER BY 1 DESC OFFSET 2", "wrapped", 7},
		{"SELECT * FROM range(10);", "appended", 0},
		{"SELECT * FROM range(10) ;\n", "appended", 0},
		{"SELECT 1; -- a comment after the semicolon", "itself", 1},
	} {
		query, err := decide(ctx, c.sql, maxRows)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		form := "itself"
		switch {
		case query == strings.TrimRight(c.sql, "; \n")+"\nLIMIT 4":
			form = "appended"
		case strings.HasPrefix(query, "SELECT * FROM (\n") && strings.HasSuffix(query, "\n) LIMIT 4"):
			form = "wrapped"
		case query != c.sql:
			t.Fatalf("%s: runs %q", c.sql, query)
		}
		if form != c.form {
			t.Errorf("%s: %s (%q), want %s", c.sql, form, query, c.form)
		}
		var rows []int64
		r, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		for r.Next() {
			var v int64
			if err := r.Scan(&v); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, v)
		}
		r.Close()
		if form != "itself" && len(rows) > maxRows+1 {
			t.Errorf("%s: %d rows, want at most %d", query, len(rows), maxRows+1)
		}
		if c.first >= 0 && (len(rows) == 0 || rows[0] != c.first) {
			t.Errorf("%s: rows %v, want %d first", query, rows, c.first)
		}
	}
}
