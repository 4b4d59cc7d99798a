// Command import-scenarios reads an export folder written by
// export-scenario back into a database, in batches of short write windows
// so servers and other processes keep using it. Importing the same folder
// twice changes nothing.
//
//	go run ./scripts/import-scenarios --in ./export --dry-run
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/scenario/archive"
	"github.com/healthsim/healthsim-go/migrations"
)

const name = "import-scenarios"

const synopsis = `go run ./scripts/import-scenarios --in DIR [--overwrite] [--dry-run] [flags]

Imports the scenarios of the export folder --in (written by export-scenario,
in any of its formats; a single scenario folder works too). A scenario whose
name is new is created, with its entities' JSON byte for byte and its
times; one whose name exists with the same description, tags and entities
is left unchanged, so importing twice changes nothing; one whose name exists
with other content is an error unless --overwrite replaces it. Every folder
is read and checked before anything is written; then --batch scenarios are
written per write window, --pause apart, so servers and other processes get
their turn in between. A new database is created and migrated. --dry-run tells what would
happen and changes nothing; it fails, as the import would, on a conflict.`

func main() { cli.Main(name, run) }

// item is one scenario folder and what is to be done with it.
type item struct {
	folder  archive.Folder
	planned scenario.ImportResult
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	var dbFlags cli.DB
	dbFlags.Register(fs)
	in := fs.String("in", "", "the export folder to import")
	formatName := fs.String("format", "", "read only files of this format: jsonl, csv or parquet (default: what each folder holds)")
	overwrite := fs.Bool("overwrite", false, "replace scenarios of the same name whose content differs")
	dryRun := fs.Bool("dry-run", false, "tell what would be imported; change nothing")
	batch := fs.Int("batch", 20, "scenarios written per write window")
	pause := fs.Duration("pause", cli.DefaultPause, "time between write windows, for other processes to read")
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	if strings.TrimSpace(*in) == "" {
		return cli.UsageError(fs, "give the export folder with --in DIR")
	}
	var format archive.Format
	if *formatName != "" {
		f, err := archive.ParseFormat(*formatName)
		if err != nil {
			return cli.UsageError(fs, "--format: %v", err)
		}
		format = f
	}
	if *batch < 1 {
		return cli.UsageError(fs, "--batch must be at least 1, got %d", *batch)
	}
	folders, err := archive.List(*in, format)
	if err != nil {
		return err
	}
	if len(folders) == 0 {
		return fmt.Errorf("no scenario folders in %s (each holds scenarios.jsonl, .csv or .parquet)", *in)
	}

	path, err := dbFlags.Resolve()
	if err != nil {
		return err
	}
	// An existing database is opened now, to compare with; a new one is
	// created only once every folder has been checked.
	var db *dbx.DB
	var store *scenario.Store
	if _, err := os.Stat(path); err == nil || !dbx.IsLocalFile(path) {
		if db, err = dbFlags.OpenExisting(ctx, cli.Logger(stderr)); err != nil {
			return err
		}
		defer db.Close()
		if *dryRun {
			err = cli.RequireSchema(ctx, db)
		} else if _, err = migrations.Up(ctx, db); err != nil {
			err = fmt.Errorf("migrate %s: %w", db.Path(), err)
		}
		if err != nil {
			return err
		}
		path, store = db.Path(), scenario.New(db)
	}
	protect := append([]string{path, path + ".wal"}, dbx.Sidecars(path)...)
	reader := archive.NewReader(protect...)
	defer reader.Close()

	// First every folder is read, checked and compared with the database,
	// one at a time: nothing is written if any of them is wrong.
	progress := cli.StartProgress(stderr, name, len(folders), "scenarios")
	defer func() { progress.Stop() }()
	progress.Note("checking")
	items := make([]item, len(folders))
	names := map[string]string{}
	var conflicts []string
	for i, f := range folders {
		rec, err := reader.Read(ctx, f)
		if err != nil {
			return fmt.Errorf("nothing was imported: %w", err)
		}
		if err := scenario.ValidateRecord(rec); err != nil {
			return fmt.Errorf("nothing was imported: %s: %w", f.Path, err)
		}
		key := strings.TrimSpace(rec.Name)
		if other, dup := names[key]; dup {
			return fmt.Errorf("nothing was imported: %s and %s both hold the scenario %q", other, f.Path, key)
		}
		names[key] = f.Path
		planned := scenario.ImportResult{Name: key, ID: rec.ID, Outcome: scenario.ImportCreate, Entities: len(rec.Entities)}
		if store != nil {
			plan, err := store.PlanImport(ctx, []*scenario.Record{rec}, *overwrite)
			if err != nil {
				return fmt.Errorf("nothing was imported: %s: %w", f.Path, err)
			}
			planned = plan[0]
		}
		if planned.Outcome == scenario.ImportConflict {
			conflicts = append(conflicts, fmt.Sprintf("%q (from %s)", key, f.Path))
		}
		items[i] = item{folder: f, planned: planned}
		progress.Add(1)
	}
	var conflictErr error
	if len(conflicts) > 0 {
		conflictErr = fmt.Errorf("nothing was imported: the database has other content under the name of %s: %s; import with --overwrite to replace what the database has",
			cli.Plural(len(conflicts), "scenario"), strings.Join(conflicts, ", "))
	}
	if *dryRun {
		progress.Stop()
		counts := map[scenario.ImportOutcome]int{}
		for _, it := range items {
			p := it.planned
			counts[p.Outcome]++
			fmt.Fprintf(stdout, "%-9s %q (%s) from %s\n", verb(p.Outcome, true), p.Name, cli.Plural(p.Entities, "entity"), it.folder.Path)
		}
		fmt.Fprintf(stdout, "dry run: would create %d, replace %d and leave %d unchanged of %s in %s",
			counts[scenario.ImportCreate], counts[scenario.ImportReplace], counts[scenario.ImportUnchanged],
			cli.Plural(len(items), "scenario"), path)
		if len(conflicts) > 0 {
			fmt.Fprintf(stdout, "; %d in conflict, which make the import fail", len(conflicts))
		}
		fmt.Fprintln(stdout, "; nothing was changed.")
		return conflictErr // a dry run fails where the import would
	}
	if conflictErr != nil {
		return conflictErr
	}
	if db == nil {
		if db, err = dbFlags.Open(ctx, cli.Logger(stderr)); err != nil {
			return err
		}
		defer db.Close()
		if _, err := migrations.Up(ctx, db); err != nil {
			return fmt.Errorf("migrate %s: %w", db.Path(), err)
		}
		path, store = db.Path(), scenario.New(db)
	}

	// Then the scenarios to write go in batches, one write window each.
	// Import compares each again inside its window: a scenario changed in
	// the meantime is not written over without --overwrite.
	progress.Stop()
	progress = cli.StartProgress(stderr, name, len(items), "scenarios")
	counts := map[scenario.ImportOutcome]int{}
	written, windows := 0, 0
	var pending []item
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		recs := make([]*scenario.Record, len(pending))
		for i, it := range pending {
			rec, err := reader.Read(ctx, it.folder)
			if err != nil {
				return err
			}
			recs[i] = rec
		}
		if windows > 0 {
			if err := cli.Pause(ctx, *pause); err != nil {
				return err
			}
		}
		progress.Note(fmt.Sprintf("write window %d", windows+1))
		results, err := store.Import(ctx, recs, *overwrite)
		if err != nil {
			return err
		}
		windows++
		for i, r := range results {
			counts[r.Outcome]++
			if r.Outcome != scenario.ImportUnchanged {
				written += r.Entities
			}
			fmt.Fprintf(stdout, "%-9s %q (%s, id %s) from %s\n", verb(r.Outcome, false), r.Name, cli.Plural(r.Entities, "entity"), r.ID, pending[i].folder.Path)
		}
		progress.Add(len(pending))
		pending = pending[:0]
		return nil
	}
	for _, it := range items {
		if it.planned.Outcome == scenario.ImportUnchanged {
			counts[scenario.ImportUnchanged]++
			fmt.Fprintf(stdout, "%-9s %q (%s, id %s) from %s\n", verb(scenario.ImportUnchanged, false), it.planned.Name,
				cli.Plural(it.planned.Entities, "entity"), it.planned.ID, it.folder.Path)
			progress.Add(1)
			continue
		}
		if pending = append(pending, it); len(pending) == *batch {
			if err := flush(); err != nil {
				return importFailed(counts, err)
			}
		}
	}
	if err := flush(); err != nil {
		return importFailed(counts, err)
	}
	took := progress.Stop()
	fmt.Fprintf(stdout, "imported %s from %s into %s: %d created, %d replaced, %d unchanged; %s written in %s (%s).\n",
		cli.Plural(len(items), "scenario"), *in, path, counts[scenario.ImportCreate], counts[scenario.ImportReplace],
		counts[scenario.ImportUnchanged], cli.Plural(written, "entity"), cli.Plural(windows, "write window"), cli.Elapsed(took))
	return nil
}

// importFailed says what was written before err: earlier batches stay.
func importFailed(counts map[scenario.ImportOutcome]int, err error) error {
	return fmt.Errorf("stopped after creating %d and replacing %d scenarios (their batches are written; the failed batch is not): %w",
		counts[scenario.ImportCreate], counts[scenario.ImportReplace], err)
}

// verb is the word that starts a scenario's line.
func verb(o scenario.ImportOutcome, dryRun bool) string {
	if dryRun {
		return map[scenario.ImportOutcome]string{scenario.ImportCreate: "create", scenario.ImportReplace: "replace",
			scenario.ImportUnchanged: "unchanged", scenario.ImportConflict: "conflict"}[o]
	}
	return map[scenario.ImportOutcome]string{scenario.ImportCreate: "created", scenario.ImportReplace: "replaced",
		scenario.ImportUnchanged: "unchanged"}[o]
}
