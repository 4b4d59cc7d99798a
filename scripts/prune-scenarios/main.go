// Command prune-scenarios deletes old or tagged scenarios, with their
// entities, tags and canonical rows, in short write windows: servers and
// other processes keep using the database while it runs.
//
//	go run ./scripts/prune-scenarios --older-than 30d --dry-run
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/scenario"
)

const name = "prune-scenarios"

const synopsis = `go run ./scripts/prune-scenarios [--older-than DURATION] [--tag TAG] [--dry-run] [flags]

Deletes the scenarios last saved (updated_at) longer ago than --older-than
(720h, 30d, 1d12h, 2w) and/or tagged --tag — with both, those matching both —
with their entities, tags and canonical rows. At least one of the two is
required. Scenarios are deleted --batch at a time, each batch in one short
write window, --pause apart, so servers and other processes get their turn
in between; a scenario saved again or retagged after it was listed is kept.
--dry-run lists what would be deleted and changes nothing.`

func main() { cli.Main(name, run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(name, synopsis, stderr)
	var dbFlags cli.DB
	dbFlags.Register(fs)
	olderThan := fs.String("older-than", "", "delete scenarios last saved longer ago than this (720h, 30d, 2w)")
	tag := fs.String("tag", "", "delete scenarios with this tag")
	dryRun := fs.Bool("dry-run", false, "list what would be deleted; change nothing")
	batch := fs.Int("batch", 20, "scenarios deleted per write window")
	pause := fs.Duration("pause", cli.DefaultPause, "time between write windows, for other processes to read")
	if err := cli.Parse(fs, args); err != nil {
		return cli.HelpOK(err)
	}
	var filter scenario.Filter
	if *olderThan != "" {
		age, err := parseAge(*olderThan)
		if err != nil {
			return cli.UsageError(fs, "--older-than: %v", err)
		}
		filter.UpdatedBefore = time.Now().Add(-age)
	}
	filter.Tag = strings.TrimSpace(*tag)
	if filter.IsZero() {
		return cli.UsageError(fs, "give --older-than, --tag or both: which scenarios to delete")
	}
	if *batch < 1 {
		return cli.UsageError(fs, "--batch must be at least 1, got %d", *batch)
	}

	db, err := dbFlags.OpenMigrated(ctx, cli.Logger(stderr))
	if err != nil {
		return err
	}
	defer db.Close()
	store := scenario.New(db)
	matches, err := store.Find(ctx, filter)
	if err != nil {
		return err
	}
	entities := 0
	for _, m := range matches {
		entities += m.EntityCount
	}
	if *dryRun {
		for _, m := range matches {
			fmt.Fprintf(stdout, "would delete %q (id %s): %s, tags %v, last saved %s\n",
				m.Name, m.ID, cli.Plural(m.EntityCount, "entity"), m.Tags, m.UpdatedAt.Format(time.DateTime))
		}
		fmt.Fprintf(stdout, "dry run: would delete %s with %s from %s; nothing was changed.\n",
			cli.Plural(len(matches), "scenario"), cli.Plural(entities, "entity"), db.Path())
		return nil
	}

	progress := cli.StartProgress(stderr, name, len(matches), "scenarios")
	var deleted, kept, windows, tags, rows int
	entities = 0
	for start := 0; start < len(matches); start += *batch {
		part := matches[start:min(start+*batch, len(matches))]
		ids := make([]string, len(part))
		for i, m := range part {
			ids[i] = m.ID
		}
		if windows > 0 {
			if err := cli.Pause(ctx, *pause); err != nil {
				progress.Stop()
				return fmt.Errorf("deleted %d of %s, then: %w", deleted, cli.Plural(len(matches), "scenario"), err)
			}
		}
		progress.Note(fmt.Sprintf("write window %d", windows+1))
		results, err := store.Prune(ctx, ids, filter)
		if err != nil {
			progress.Stop()
			return fmt.Errorf("deleted %d of %s, then: %w",
				deleted, cli.Plural(len(matches), "scenario"), err)
		}
		windows++
		progress.Add(len(part))
		for _, r := range results {
			n := 0
			for _, c := range r.Rows {
				n += c
			}
			fmt.Fprintf(stdout, "deleted %q (id %s): %s, %s, %s\n", r.Name, r.ID,
				cli.Plural(r.Entities, "entity"), cli.Plural(r.Tags, "tag"), cli.Plural(n, "canonical row"))
			deleted++
			entities += r.Entities
			tags += r.Tags
			rows += n
		}
		kept += len(part) - len(results)
	}
	took := progress.Stop()
	fmt.Fprintf(stdout, "deleted %s with %s, %s and %s from %s in %s (%s).\n",
		cli.Plural(deleted, "scenario"), cli.Plural(entities, "entity"), cli.Plural(tags, "tag"),
		cli.Plural(rows, "canonical row"), db.Path(), cli.Plural(windows, "write window"), cli.Elapsed(took))
	if kept > 0 {
		fmt.Fprintf(stdout, "kept %s that changed or went away after they were listed.\n", cli.Plural(kept, "scenario"))
	}
	return nil
}

// dayWeek matches a number of days or weeks in a duration ("30d", "1.5w").
var dayWeek = regexp.MustCompile(`(\d+(?:\.\d+)?)([dw])`)

// parseAge parses a positive duration as time.ParseDuration does, with
// days (d, 24h) and weeks (w, 7d) besides: "720h", "30d", "1d12h", "2w".
func parseAge(s string) (time.Duration, error) {
	var bad error
	expanded := dayWeek.ReplaceAllStringFunc(strings.TrimSpace(s), func(m string) string {
		parts := dayWeek.FindStringSubmatch(m)
		n, err := strconv.ParseFloat(parts[1], 64)
		hours := n * 24
		if parts[2] == "w" {
			hours *= 7
		}
		if err != nil || hours > math.MaxInt64/float64(time.Hour) {
			bad = fmt.Errorf("%q is out of range", m)
		}
		return strconv.FormatFloat(hours, 'f', -1, 64) + "h"
	})
	if bad != nil {
		return 0, bad
	}
	d, err := time.ParseDuration(expanded)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 720h, 30d or 2w", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}
