// Command check reports whether the scenario data of a HealthSim database
// is consistent and its schema up to date, reading through the read pool.
// It exits with status 1 when something is wrong.
//
//	go run ./scripts/check
package main

import (
	"context"
	"fmt"
	"io"

	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/migrations"
)

const name = "check"

const synopsis = `go run ./scripts/check [--show N] [flags]

Reports the schema version against the newest migration; the number of
scenarios; per entity type, the scenarios that have it, its entities and its
canonical rows; and every inconsistency: entities or tags whose scenario is
missing, entities of an unknown type, canonical rows whose scenario is
missing or that have no entity, scenarios whose entities and canonical rows
of a type differ in number, and duplicates (scenario ids or names, an
entity's id within its scenario and type, a tag within its scenario), which
the schema has no constraint against. Reads only, one short query at a time;
servers and other processes keep writing meanwhile. Exit status 1 when
something is wrong, 0 when all is well.`

func main() { cli.Main(name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	var dbFlags cli.DB
	dbFlags.Register(fs)
	show := fs.Int("show", 20, "list at most this many findings of each kind")
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	if *show < 0 {
		return cli.UsageError(fs, "--show must not be negative, got %d", *show)
	}
	db, err := dbFlags.OpenExisting(ctx, cli.Logger(stderr))
	if err != nil {
		return err
	}
	defer db.Close()

	problems := 0
	version, err := migrations.Version(ctx, db)
	if err != nil {
		return err
	}
	latest := migrations.Latest()
	fmt.Fprintf(stdout, "database   %s\nschema     version %d (latest %d)\n", db.Path(), version, latest)

	progress := cli.StartProgress(stderr, name, 0, "steps")
	report, err := scenario.New(db).CheckIntegrity(ctx, func(done, total int) { progress.Add(1) })
	took := progress.Stop()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "scenarios  %d\n\n", report.Scenarios)
	if len(report.Types) > 0 {
		fmt.Fprintf(stdout, "%-16s %10s %10s %15s\n", "entity type", "scenarios", "entities", "canonical rows")
		for _, t := range report.Types {
			fmt.Fprintf(stdout, "%-16s %10d %10d %15d\n", t.Type, t.Scenarios, t.Entities, t.Rows)
		}
		fmt.Fprintln(stdout)
	}

	problem := func(format string, args ...any) {
		if problems == 0 {
			fmt.Fprintln(stdout, "problems:")
		}
		problems++
		fmt.Fprintf(stdout, "  - "+format+"\n", args...)
	}
	if version < latest {
		problem("the schema is at version %d, behind the newest migration %d: run `healthsim migrate up --db %s`", version, latest, db.Path())
	} else if version > latest {
		problem("the schema is at version %d, newer than this program knows (%d): update the scripts", version, latest)
	}
	for _, t := range report.MissingTables {
		problem("table %s is missing", t)
	}
	list := func(what string, findings []scenario.Orphan, line func(o scenario.Orphan) string) {
		for i, o := range findings {
			if i == *show {
				fmt.Fprintf(stdout, "  … and %d more %s\n", len(findings)-i, what)
				problems += len(findings) - i
				return
			}
			problem("%s", line(o))
		}
	}
	list("groups of orphan entities", report.OrphanEntities, func(o scenario.Orphan) string {
		return fmt.Sprintf("scenario_entities: %s of type %s belong to scenario %q, which does not exist (e.g. %q)",
			cli.Plural(o.Rows, "row"), o.EntityType, o.ScenarioID, o.Example)
	})
	list("groups of orphan tags", report.OrphanTags, func(o scenario.Orphan) string {
		return fmt.Sprintf("scenario_tags: %s belong to scenario %q, which does not exist (e.g. %q)",
			cli.Plural(o.Rows, "tag"), o.ScenarioID, o.Example)
	})
	list("groups of entities of unknown types", report.UnknownTypes, func(o scenario.Orphan) string {
		return fmt.Sprintf("scenario_entities: %s of scenario %q have the unknown type %q (e.g. %q)",
			cli.Plural(o.Rows, "row"), o.ScenarioID, o.EntityType, o.Example)
	})
	list("stale copies", report.StaleCopies, func(o scenario.Orphan) string {
		if o.Table == "scenarios" {
			return fmt.Sprintf("scenarios: the %s of scenario %q (%s) disagree with scenario_%s",
				o.EntityType, o.ScenarioID, o.Example, map[string]string{"tags": "tags", "entity_counts": "entities"}[o.EntityType])
		}
		return fmt.Sprintf("scenario_entities: %s of scenario %q have a scenario_seq that is not the scenario's: reads do not find them (e.g. %q)",
			cli.Plural(o.Rows, "row"), o.ScenarioID, o.Example)
	})
	list("groups of orphan canonical rows", report.OrphanRows, func(o scenario.Orphan) string {
		return fmt.Sprintf("%s: %s belong to scenario %q, which does not exist (e.g. id %q)",
			o.Table, cli.Plural(o.Rows, "row"), o.ScenarioID, o.Example)
	})
	list("groups of canonical rows without an entity", report.UnmatchedRows, func(o scenario.Orphan) string {
		return fmt.Sprintf("%s: %s of scenario %q have no scenario_entities row (e.g. id %q)",
			o.Table, cli.Plural(o.Rows, "row"), o.ScenarioID, o.Example)
	})
	for i, d := range report.Duplicates {
		if i == *show {
			fmt.Fprintf(stdout, "  … and %d more duplicates\n", len(report.Duplicates)-i)
			problems += len(report.Duplicates) - i
			break
		}
		switch d.Column {
		case "id":
			problem("scenarios: the id %q is used by %s (names %s)", d.Value, cli.Plural(d.Rows, "scenario"), d.Others)
		case "name":
			problem("scenarios: the name %q is used by %s (ids %s)", d.Value, cli.Plural(d.Rows, "scenario"), d.Others)
		case "entity_id":
			problem("scenario_entities: %s of scenario %q have the %s id %q", cli.Plural(d.Rows, "row"), d.ScenarioID, d.EntityType, d.Value)
		default:
			problem("%s: %s of scenario %q have the %s %q", d.Table, cli.Plural(d.Rows, "row"), d.ScenarioID, d.Column, d.Value)
		}
	}
	for i, m := range report.CountMismatches {
		if i == *show {
			fmt.Fprintf(stdout, "  … and %d more count mismatches\n", len(report.CountMismatches)-i)
			problems += len(report.CountMismatches) - i
			break
		}
		problem("scenario %q (id %s) has %s of type %s but %s in %s",
			m.Name, m.ScenarioID, cli.Plural(m.Entities, "entity"), m.Type, cli.Plural(m.Rows, "row"), m.Type)
	}
	if problems > 0 {
		fmt.Fprintf(stdout, "\nfound %s in %s (%s).\n", cli.Plural(problems, "problem"), db.Path(), cli.Elapsed(took))
		return fmt.Errorf("found %s in %s", cli.Plural(problems, "problem"), db.Path())
	}
	fmt.Fprintf(stdout, "no problems found in %s (%s).\n", db.Path(), cli.Elapsed(took))
	return nil
}
