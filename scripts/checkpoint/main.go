// Command checkpoint folds the database's write-ahead log into the file in
// one short write window and reports the file and WAL sizes before and
// after.
//
//	go run ./scripts/checkpoint --db ~/healthsim/healthsim.duckdb
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
)

const name = "checkpoint"

const synopsis = `go run ./scripts/checkpoint [flags]

Forces a CHECKPOINT of the database in one write window — the WAL is folded
into the file — and reports the sizes of the file and of its WAL before and
after. dbx writers checkpoint after every write already; a WAL left by a
program that does not (or that crashed) is folded in here. Servers and
other processes keep using the database; it waits for the write lock like
any writer (--busy-timeout).`

func main() { cli.Main(name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	var dbFlags cli.DB
	dbFlags.Register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	db, err := dbFlags.OpenExisting(ctx, cli.Logger(stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	if !dbx.IsLocalFile(db.Path()) {
		return fmt.Errorf("%s is not a local file: it has no WAL of its own to checkpoint", db.Path())
	}
	// Sizes come from os.Stat only: opening and closing the database file
	// would drop this process's locks on it.
	fileBefore, walBefore := size(db.Path()), size(db.Path()+".wal")
	progress := cli.StartProgress(stderr, name, 0, "checkpoints")
	progress.Note("waiting for the write lock, then checkpointing")
	err = db.WritePool(ctx, func(pool *sql.DB) error {
		_, err := pool.ExecContext(ctx, "CHECKPOINT "+dbx.Catalog)
		return err
	})
	took := progress.Stop()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", db.Path(), err)
	}
	fileAfter, walAfter := size(db.Path()), size(db.Path()+".wal")
	fmt.Fprintf(stdout, "database  %s\nfile      %s -> %s\nwal       %s -> %s\n",
		db.Path(), cli.Bytes(fileBefore), cli.Bytes(fileAfter), cli.Bytes(walBefore), cli.Bytes(walAfter))
	fmt.Fprintf(stdout, "checkpointed in %s: the WAL went from %s to %s and the file from %s to %s.\n",
		cli.Elapsed(took), cli.Bytes(walBefore), cli.Bytes(walAfter), cli.Bytes(fileBefore), cli.Bytes(fileAfter))
	return nil
}

// size returns the size of path, 0 if it does not exist.
func size(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
