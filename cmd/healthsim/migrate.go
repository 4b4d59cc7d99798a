package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

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
  create NAME   write a new, empty SQL migration into --dir`

// MigrateCommand runs goose verbs on the database: questions through the
// read pool, changes in one write window.
type MigrateCommand struct {
	*env
	db  cli.DB
	dir string
}

func (c *MigrateCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("migrate", "healthsim "+migrateSynopsis, c.stderr)
	c.db.Register(fs)
	fs.StringVar(&c.dir, "dir", "migrations/sql", "folder for create")
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

	db, err := c.db.Open(ctx, c.logger())
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
