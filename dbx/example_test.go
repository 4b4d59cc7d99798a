package dbx_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/jmoiron/sqlx"
)

func exampleDir() string {
	dir, err := os.MkdirTemp("", "dbx-example")
	if err != nil {
		log.Fatal(err)
	}
	return dir
}

func ExampleOpen() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// Open creates the file (in one write window) if it does not exist;
	// after that nothing is locked until the next read or write.
	db, err := dbx.Open(ctx, filepath.Join(dir, "app.duckdb"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	fmt.Println(filepath.Base(db.Path()))
	// Output: app.duckdb
}

func ExampleDB_Write() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(dir, "app.duckdb"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// One transaction. The write side lets go of the file once it has
	// committed, before Write returns (unless a window of this process is
	// queued behind it, or WithWriteLinger says otherwise).
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE notes (id INTEGER, body TEXT)"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO notes VALUES (?, ?)", 1, "hello")
		return err
	})
	fmt.Println(err)
	// Output: <nil>
}

func ExampleDB_Read() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := dbx.Open(ctx, filepath.Join(dir, "app.duckdb"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE notes AS SELECT 1 AS id, 'hello' AS body")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}

	// Read is an ordinary *sqlx.DB; it keeps the file open only while used
	// and for the read lease after.
	var body string
	if err := db.Read().GetContext(ctx, &body, "SELECT body FROM notes WHERE id = ?", 1); err != nil {
		log.Fatal(err)
	}
	fmt.Println(body)
	// Output: hello
}

func ExampleOpenReadOnly() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()
	path := filepath.Join(dir, "app.duckdb")
	db, err := dbx.Open(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "CREATE TABLE notes AS SELECT range AS id FROM range(3)")
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}

	// Any database/sql program (a notebook, a report) can read without
	// keeping writers out for longer than its read lease.
	pool, err := dbx.OpenReadOnly(path)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	var n int
	if err := pool.QueryRowContext(ctx, "SELECT count(*) FROM notes").Scan(&n); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
	// Output: 3
}

func ExampleOpenDB() {
	dir := exampleDir()
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// One *sql.DB for any database/sql code; sql.Open("dbx", path) is the
	// same. Each statement goes where DuckDB's statement type says.
	db, err := dbx.OpenDB(filepath.Join(dir, "app.duckdb"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close() // closes the dbx.DB too

	// Each write is a write window of its own; the file is let go before
	// ExecContext returns.
	if _, err := db.ExecContext(ctx, "CREATE TABLE notes (id INTEGER, body TEXT)"); err != nil {
		log.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO notes VALUES (?, ?)", 1, "hello"); err != nil {
		log.Fatal(err)
	}
	// Reads run on the read pool.
	var body string
	if err := db.QueryRowContext(ctx, "SELECT body FROM notes WHERE id = ?", 1).Scan(&body); err != nil {
		log.Fatal(err)
	}
	// Session statements are refused, with what to do instead.
	_, err = db.ExecContext(ctx, "SET threads = 1")
	fmt.Println(body, errors.Is(err, dbx.ErrRefused))
	// Output: hello true
}
