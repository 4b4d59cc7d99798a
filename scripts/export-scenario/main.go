// Command export-scenario writes one scenario, or all, into an export
// folder in JSON Lines, CSV or Parquet, reading through the read pool while
// servers and other processes keep using the database. import-scenarios
// reads the folder back; the layout is described in package archive.
//
//	go run ./scripts/export-scenario --all --format parquet --out ./export
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/scenario/archive"
)

const name = "export-scenario"

const synopsis = `go run ./scripts/export-scenario (--scenario NAME_OR_ID | --all) --out DIR [--format jsonl|csv|parquet] [flags]

Writes the scenario --scenario (a name or an id), or every scenario with
--all, into the folder --out: one folder per scenario holding
scenarios.FORMAT (name, description, tags, times) and entities.FORMAT (each
entity's JSON exactly as saved). Reads through the read pool: servers and
other processes keep reading and writing meanwhile. Read the folder back
with import-scenarios.`

func main() { cli.Main(name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	var dbFlags cli.DB
	dbFlags.Register(fs)
	one := fs.String("scenario", "", "the scenario to export: its name or id")
	all := fs.Bool("all", false, "export every scenario")
	formatName := fs.String("format", string(archive.JSONL), "jsonl, csv or parquet")
	out := fs.String("out", "", "the export folder (created if needed)")
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	if (*one == "") == !*all {
		return cli.UsageError(fs, "give either --scenario NAME_OR_ID or --all")
	}
	format, err := archive.ParseFormat(*formatName)
	if err != nil {
		return cli.UsageError(fs, "--format: %v", err)
	}
	if strings.TrimSpace(*out) == "" {
		return cli.UsageError(fs, "give the export folder with --out DIR")
	}

	db, err := dbFlags.OpenMigrated(ctx, cli.Logger(stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	store := scenario.New(db)
	var ids []string
	if *all {
		list, err := store.Find(ctx, scenario.Filter{})
		if err != nil {
			return err
		}
		for _, s := range list {
			ids = append(ids, s.ID)
		}
	} else {
		id, err := store.ResolveID(ctx, *one)
		if err != nil {
			return err
		}
		ids = []string{id}
	}

	w, err := archive.NewWriter(*out, format, protected(db)...)
	if err != nil {
		return err
	}
	defer w.Close()
	progress := cli.StartProgress(stderr, name, len(ids), "scenarios")
	defer func() { progress.Stop() }()
	exported, entities, gone := 0, 0, 0
	for _, id := range ids {
		// One read transaction per scenario: writers of other processes
		// get their turn between scenarios.
		rec, err := store.Export(ctx, id)
		if errors.Is(err, scenario.ErrNotFound) {
			gone++ // deleted since it was listed
			continue
		}
		if err != nil {
			return fmt.Errorf("exported %d of %s, then: %w", exported, cli.Plural(len(ids), "scenario"), err)
		}
		dir, err := w.Write(ctx, rec)
		if err != nil {
			return fmt.Errorf("exported %d of %s, then: %w", exported, cli.Plural(len(ids), "scenario"), err)
		}
		fmt.Fprintf(stdout, "exported %q (%s) to %s\n", rec.Name, cli.Plural(len(rec.Entities), "entity"), dir)
		exported++
		entities += len(rec.Entities)
		progress.Add(1)
	}
	took := progress.Stop()
	fmt.Fprintf(stdout, "exported %s with %s from %s to %s as %s in %s.\n",
		cli.Plural(exported, "scenario"), cli.Plural(entities, "entity"), db.Path(), *out, format, cli.Elapsed(took))
	if gone > 0 {
		fmt.Fprintf(stdout, "skipped %s deleted while the export ran.\n", cli.Plural(gone, "scenario"))
	}
	return nil
}

// protected lists the database's own files, which the export must never
// write nor open.
func protected(db *dbx.DB) []string {
	return append([]string{db.Path(), db.Path() + ".wal"}, dbx.Sidecars(db.Path())...)
}
