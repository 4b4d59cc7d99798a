package dbx

import "testing"

// TestRowsOnly: only statements that certainly change rows alone, and no
// schema, skip the checkpoint after their window.
func TestRowsOnly(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"INSERT INTO t VALUES (1)", true},
		{"  insert into t values (1)", true},
		{"UPDATE t SET x = 1", true},
		{"DELETE FROM t", true},
		{"SELECT 1", true},
		{"WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", true},
		{"VALUES (1)", true},
		{"FROM t", true},
		{"(SELECT 1)", true},
		{"-- a comment\nINSERT INTO t VALUES (1)", true},
		{"/* a comment */ DELETE FROM t", true},
		{"INSERT INTO t VALUES (1);", true},
		{"INSERT INTO t VALUES (1);  \n", true},
		{"SELECT\n1", true},
		{"INSERT\tINTO t VALUES (1)", true},
		{"INSERTED", false},
		{"CREATE TABLE u (x INT)", false},
		{"ALTER TABLE t ADD COLUMN y INT", false},
		{"DROP TABLE t", false},
		{"CHECKPOINT", false},
		{"INSERT INTO t VALUES (1); CREATE TABLE u (x INT)", false},
		{"INSERT INTO t VALUES ('a;b')", false}, // a ';' in a string: only slower
		{"", false},
		{"-- only a comment", false},
	} {
		if got := rowsOnly(tc.query); got != tc.want {
			t.Errorf("rowsOnly(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}
