package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/pressly/goose/v3"
)

const migrateSynopsis = `migrate VERB [ARG] [flags]

Verbs (with goose's meaning):
  up            apply every pending migration
  up-by-one     apply the next pending migration
  up-to V       apply pending migrations up to version V
  down          roll back the latest migration
  down-to V     roll back to version V (0: everything)
  redo          roll back the latest migration and apply it again
  reset         roll back every migration
  status        list migrations as applied or pending (no write lock)
  version       print the schema version (no write lock)
  create NAME   write a new, empty SQL migration into --dir

Only up, up-by-one and up-to create a missing database (and its folder);
the other verbs say "no database at PATH" and create nothing. All but
create refuse a file that is not a DuckDB database. down, down-to, redo
and reset drop or rewrite data: they refuse while a healthsim serve owns
the file (--force: roll back anyway), and ask first on a terminal (--yes:
do not ask; without a terminal, --yes is required).`

// MigrateCommand runs goose verbs on the database: questions through the
// read pool, changes in one write window.
type MigrateCommand struct {
	*env
	db    cli.DB
	dir   string
	force bool // roll back even while a healthsim serve owns the file
	yes   bool // roll back without asking
}

func (c *MigrateCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("migrate", "healthsim "+migrateSynopsis, c.stderr)
	c.db.Register(fs)
	fs.StringVar(&c.dir, "dir", "migrations/sql", "folder for create")
	fs.BoolVar(&c.force, "force", false, "down, down-to, redo, reset: roll back even while a healthsim serve owns the database")
	fs.BoolVar(&c.yes, "yes", false, "down, down-to, redo, reset: do not ask before dropping data (required without a terminal)")
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) == 0 {
		return cli.UsageError(fs, "migrate needs a verb")
	}
	verb, rest := pos[0], pos[1:]
	wantArgs := map[string]int{"up-to": 1, "down-to": 1, "create": 1}[verb]
	known := map[string]bool{"up": true, "up-by-one": true, "up-to": true, "down": true, "down-to": true,
		"redo": true, "reset": true, "status": true, "version": true, "create": true}
	if !known[verb] {
		return cli.UsageError(fs, "unknown migrate verb %q", verb)
	}
	if len(rest) != wantArgs {
		return cli.UsageError(fs, "migrate %s takes %d argument(s), got %d", verb, wantArgs, len(rest))
	}
	var version int64
	if verb == "up-to" || verb == "down-to" {
		if version, err = strconv.ParseInt(rest[0], 10, 64); err != nil || version < 0 {
			return cli.UsageError(fs, "migrate %s: version must be a whole number ≥ 0, got %q", verb, rest[0])
		}
	}
	if verb == "create" {
		goose.SetSequential(true)
		return goose.Create(nil, c.dir, rest[0], "sql")
	}

	// Only the verbs that apply migrations create a database; the ones
	// that roll back drop data.
	open := c.db.OpenExisting
	rollback := verb == "down" || verb == "down-to" || verb == "redo" || verb == "reset"
	switch {
	case verb == "up" || verb == "up-by-one" || verb == "up-to":
		open = c.db.Open
	case rollback:
		path, err := c.db.ResolveExisting()
		if err != nil {
			return err
		}
		if !c.force {
			if err := refuseWhileServed(path); err != nil {
				return err
			}
		}
	}
	db, err := open(ctx, c.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	switch verb {
	case "status":
		statuses, err := migrations.Status(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%-29s  %s\n", "Applied At", "Migration")
		fmt.Fprintln(c.stdout, "========================================================")
		for _, s := range statuses {
			applied := "Pending"
			if s.State == goose.StateApplied {
				applied = s.AppliedAt.UTC().Format(time.RFC1123)
			}
			fmt.Fprintf(c.stdout, "%-29s  %s\n", applied, s.Source.Path)
		}
		return nil
	case "version":
		v, err := migrations.Version(ctx, db)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "version %d (latest %d)\n", v, migrations.Latest())
		return nil
	case "up":
		results, err := migrations.Up(ctx, db)
		c.report(results)
		if err == nil && len(results) == 0 {
			v, _ := migrations.Version(ctx, db)
			fmt.Fprintf(c.stdout, "no migrations to run; current version %d\n", v)
		}
		return err
	}
	if rollback {
		if err := c.confirm(ctx, db, verb, version); err != nil {
			return err
		}
	}
	var results []*goose.MigrationResult
	err = migrations.Change(ctx, db, nil, func(p *goose.Provider) error {
		var err error
		var one *goose.MigrationResult
		switch verb {
		case "up-by-one":
			one, err = p.UpByOne(ctx)
		case "up-to":
			results, err = p.UpTo(ctx, version)
		case "down":
			one, err = p.Down(ctx)
		case "down-to":
			results, err = p.DownTo(ctx, version)
		case "reset":
			results, err = p.DownTo(ctx, 0)
		case "redo":
			if one, err = p.Down(ctx); err == nil {
				results = append(results, one)
				one, err = p.UpByOne(ctx)
			}
		}
		if one != nil {
			results = append(results, one)
		}
		return err
	})
	c.report(results)
	if err == nil && len(results) == 0 {
		v, _ := migrations.Version(ctx, db)
		fmt.Fprintf(c.stdout, "nothing to do; current version %d\n", v)
	}
	return err
}

// report prints one line per migration run, as goose does.
func (c *MigrateCommand) report(results []*goose.MigrationResult) {
	for _, r := range results {
		fmt.Fprintln(c.stdout, r.String())
	}
}

// refuseWhileServed fails, naming the process, while a healthsim serve
// owns the database at path (its owner record, as `healthsim locks` reads
// it): rolling back under it would break every call of its clients.
func refuseWhileServed(path string) error {
	rec, owned := share.Owned(path)
	if !owned {
		return nil
	}
	who, stop := "a healthsim serve that is starting", "quit the MCP client that started it"
	if rec.PID != 0 {
		who = fmt.Sprintf("healthsim serve (PID %d)", rec.PID)
		stop += fmt.Sprintf(", or run `kill %d`", rec.PID)
	}
	return fmt.Errorf("%s is serving %s to MCP clients, and rolling back migrations under it would break their calls; nothing was changed. Stop it first (%s), or pass --force to roll back anyway",
		who, path, stop)
}

// confirm says what verb (down, down-to target, redo or reset) will drop
// and asks on the terminal, reading the answer from stdin. With --yes it
// does not ask; without a terminal it refuses unless --yes was given. It
// returns nil when there is nothing to roll back (goose then says so).
func (c *MigrateCommand) confirm(ctx context.Context, db *dbx.DB, verb string, target int64) error {
	if c.yes {
		return nil
	}
	statuses, err := migrations.Status(ctx, db)
	if err != nil {
		return err
	}
	var applied []string // newest first, as goose rolls back
	var versions []int64
	for _, s := range slices.Backward(statuses) {
		if s.State == goose.StateApplied {
			applied = append(applied, filepath.Base(s.Source.Path))
			versions = append(versions, s.Source.Version)
		}
	}
	n := len(applied) // how many the verb rolls back
	switch verb {
	case "down", "redo":
		n = min(n, 1)
	case "down-to":
		n = 0
		for n < len(versions) && versions[n] > target {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	what := fmt.Sprintf("roll back %s of %s, dropping the tables and columns %s and the data in them",
		cli.Plural(n, "migration"), db.Path(), map[bool]string{true: "it creates", false: "they create"}[n == 1])
	if verb == "redo" {
		what = fmt.Sprintf("roll back the latest migration of %s and apply it again, emptying the tables and columns it creates", db.Path())
	}
	what += " (" + strings.Join(applied[:n], ", ") + ")"
	if n == len(applied) && verb != "redo" {
		what += "; that is every table: every saved scenario is lost"
	}
	return c.env.confirm("migrate "+verb, what, false)
}
