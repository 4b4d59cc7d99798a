package dbx_test

import (
	"context"
	"database/sql"
	"testing"

	sq "github.com/Masterminds/squirrel"
	"github.com/jmoiron/sqlx"
)

// Real consumers of database/sql on the routed *sql.DB. goose's is in
// package migrations (which imports dbx).

func TestRoutedSqlx(t *testing.T) {
	pool, _ := openRouted(t, "")
	db := sqlx.NewDb(pool, "duckdb")
	db.MustExec("CREATE TABLE people (id INTEGER, name VARCHAR)")
	type person struct {
		ID   int    `db:"id"`
		Name string `db:"name"`
	}
	if _, err := db.NamedExec("INSERT INTO people (id, name) VALUES (:id, :name)", []person{{1, "ada"}, {2, "grace"}}); err != nil {
		t.Fatal(err)
	}
	var p person
	if err := db.Get(&p, "SELECT * FROM people WHERE id = ?", 2); err != nil || p.Name != "grace" {
		t.Fatalf("Get: %+v, %v", p, err)
	}
	var all []person
	if err := db.Select(&all, "SELECT * FROM people ORDER BY id"); err != nil || len(all) != 2 {
		t.Fatalf("Select: %+v, %v", all, err)
	}
	tx := db.MustBegin()
	tx.MustExec("UPDATE people SET name = upper(name)")
	if err := tx.Get(&p, "SELECT * FROM people WHERE id = 1"); err != nil || p.Name != "ADA" {
		t.Fatalf("Get in a transaction: %+v, %v", p, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// DBTX is the interface sqlc generates; Queries is written as sqlc
// writes it, by hand.
type DBTX interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	PrepareContext(context.Context, string) (*sql.Stmt, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

type Queries struct{ db DBTX }

func (q *Queries) WithTx(tx *sql.Tx) *Queries { return &Queries{db: tx} }

const createAuthor = `INSERT INTO authors (name, bio) VALUES (?, ?) RETURNING id`

func (q *Queries) CreateAuthor(ctx context.Context, name string, bio sql.NullString) (int64, error) {
	var id int64
	err := q.db.QueryRowContext(ctx, createAuthor, name, bio).Scan(&id)
	return id, err
}

const listAuthors = `SELECT id, name, bio FROM authors ORDER BY name`

type Author struct {
	ID   int64
	Name string
	Bio  sql.NullString
}

func (q *Queries) ListAuthors(ctx context.Context) ([]Author, error) {
	rows, err := q.db.QueryContext(ctx, listAuthors)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var items []Author
	for rows.Next() {
		var i Author
		if err := rows.Scan(&i.ID, &i.Name, &i.Bio); err != nil {
			return nil, err
		}
		items = append(items, i)
	}
	return items, rows.Err()
}

const deleteAuthor = `DELETE FROM authors WHERE id = ?`

func (q *Queries) DeleteAuthor(ctx context.Context, id int64) error {
	_, err := q.db.ExecContext(ctx, deleteAuthor, id)
	return err
}

// renameAuthor is prepared, as sqlc does with emit_prepared_queries.
func (q *Queries) RenameAuthor(ctx context.Context, id int64, name string) error {
	stmt, err := q.db.PrepareContext(ctx, `UPDATE authors SET name = ? WHERE id = ?`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	_, err = stmt.ExecContext(ctx, name, id)
	return err
}

func TestRoutedSqlcDBTX(t *testing.T) {
	db, _ := openRouted(t, "")
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE SEQUENCE author_ids"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE authors (id BIGINT DEFAULT nextval('author_ids'), name VARCHAR NOT NULL, bio VARCHAR)"); err != nil {
		t.Fatal(err)
	}
	q := &Queries{db: db}
	id, err := q.CreateAuthor(ctx, "Brian Kernighan", sql.NullString{String: "Co-author of The C Programming Language", Valid: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.RenameAuthor(ctx, id, "B. W. Kernighan"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	qtx := q.WithTx(tx)
	if _, err := qtx.CreateAuthor(ctx, "Dennis Ritchie", sql.NullString{}); err != nil {
		t.Fatal(err)
	}
	if err := qtx.DeleteAuthor(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	authors, err := q.ListAuthors(ctx)
	if err != nil || len(authors) != 1 || authors[0].Name != "B. W. Kernighan" || !authors[0].Bio.Valid {
		t.Fatalf("ListAuthors = %+v, %v", authors, err)
	}
}

// TestRoutedSquirrel: a query builder over database/sql
// (github.com/Masterminds/squirrel), with ? placeholders.
func TestRoutedSquirrel(t *testing.T) {
	db, _ := openRouted(t, "")
	if _, err := db.Exec("CREATE TABLE orders (id INTEGER, customer VARCHAR, total DOUBLE)"); err != nil {
		t.Fatal(err)
	}
	ins := sq.Insert("orders").Columns("id", "customer", "total")
	for i, c := range []string{"ann", "bob", "ann"} {
		ins = ins.Values(i+1, c, 10.5*float64(i+1))
	}
	if _, err := ins.RunWith(db).Exec(); err != nil {
		t.Fatal(err)
	}
	if _, err := sq.Update("orders").Set("total", sq.Expr("total * 2")).Where(sq.Eq{"customer": "bob"}).RunWith(db).Exec(); err != nil {
		t.Fatal(err)
	}
	var n int
	var sum float64
	err := sq.Select("count(*)", "sum(total)").From("orders").Where(sq.Or{sq.Eq{"customer": "ann"}, sq.Gt{"total": 40}}).
		RunWith(db).QueryRow().Scan(&n, &sum)
	if err != nil || n != 3 || sum != 10.5+42+31.5 {
		t.Fatalf("select: %d, %v, %v", n, sum, err)
	}
	if _, err := sq.Delete("orders").Where(sq.Eq{"id": []int{1, 3}}).RunWith(db).Exec(); err != nil {
		t.Fatal(err)
	}
	if got := countRows(t, db, "orders"); got != 1 {
		t.Fatalf("%d orders left, want 1", got)
	}
}
