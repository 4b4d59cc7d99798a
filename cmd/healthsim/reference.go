package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

const referenceSynopsis = `reference VERB [ARGS] [flags]

Verbs:
  load-sample             replace all five tables with the embedded sample:
                          real county FIPS codes and names, synthetic values
  import TABLE FILE.csv   replace TABLE with a public CSV file: CDC PLACES
                          county or tract data (GIS-friendly format), CDC/ATSDR
                          SVI county or tract data, Neighborhood Atlas ADI by
                          block group
  status                  source, rows and load time of each table

Tables: places_county, places_tract, svi_county, svi_tract, adi_blockgroup
(schema population). Migrations are applied first if the database needs
them; load-sample and import create the database if there is none.`

// reportEvery is how many rows pass between plain progress lines.
const reportEvery = 50_000

// ReferenceCommand loads and describes the population reference tables.
type ReferenceCommand struct {
	*env
	db cli.DB
}

func (c *ReferenceCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("reference", "healthsim "+referenceSynopsis, c.stderr)
	c.db.Register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	if len(pos) == 0 {
		return cli.UsageError(fs, "reference needs a verb: load-sample, import or status")
	}
	verb, rest := pos[0], pos[1:]
	wantArgs, known := map[string]int{"load-sample": 0, "import": 2, "status": 0}[verb]
	if !known {
		return cli.UsageError(fs, "unknown reference verb %q", verb)
	}
	if len(rest) != wantArgs {
		return cli.UsageError(fs, "reference %s takes %d argument(s), got %d", verb, wantArgs, len(rest))
	}
	var file *os.File
	if verb == "import" {
		if !slices.Contains(reference.Tables(), rest[0]) {
			return cli.UsageError(fs, "unknown reference table %q; use one of %s", rest[0], strings.Join(reference.Tables(), ", "))
		}
		if file, err = c.openCSV(rest[1]); err != nil {
			return err
		}
		defer file.Close()
	}

	open := c.db.Open // load-sample and import create the database
	if verb == "status" {
		open = c.db.OpenExisting
	}
	db, err := open(ctx, c.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	switch verb {
	case "load-sample":
		return c.loadSample(ctx, db)
	case "import":
		return c.importFile(ctx, db, rest[0], file)
	}
	return c.status(ctx, db)
}

// openCSV opens the file to import, refusing the database itself: closing
// any descriptor of the database file would drop this process's locks on it.
func (c *ReferenceCommand) openCSV(name string) (*os.File, error) {
	info, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("%s is a folder; give the CSV file", name)
	}
	if path, err := c.db.Resolve(); err == nil {
		if dbInfo, err := os.Stat(path); err == nil && os.SameFile(info, dbInfo) {
			return nil, fmt.Errorf("%s is the database itself; give the CSV file to import", name)
		}
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", name, err)
	}
	return f, nil
}

func (c *ReferenceCommand) loadSample(ctx context.Context, db *dbx.DB) error {
	counts, err := reference.LoadSample(ctx, db)
	if err != nil {
		return err
	}
	var parts []string
	for _, t := range reference.Tables() {
		parts = append(parts, fmt.Sprintf("%s %s", t, cli.Plural(counts[t], "row")))
	}
	fmt.Fprintf(c.stdout, "loaded the sample: %s.\n", strings.Join(parts, ", "))
	fmt.Fprintln(c.stdout, "Its values are synthetic, not real CDC/ADI data; import the real files with `healthsim reference import TABLE FILE.csv`.")
	return nil
}

// importFile imports f into table, showing progress on stderr: a bar over
// the file's bytes on a terminal, a line every reportEvery rows otherwise.
func (c *ReferenceCommand) importFile(ctx context.Context, db *dbx.DB, table string, f *os.File) error {
	start := time.Now()
	var bar *progressbar.ProgressBar
	var r io.Reader = f
	progress := func(rows int) {
		if rows > 0 && rows%reportEvery == 0 {
			fmt.Fprintf(c.stderr, "reference: read %d rows\n", rows)
		}
	}
	if out, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
		size := int64(-1)
		if info, err := f.Stat(); err == nil {
			size = info.Size()
		}
		bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(c.stderr),
			progressbar.OptionSetDescription("reading "+filepath.Base(f.Name())),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionThrottle(65*time.Millisecond),
			progressbar.OptionFullWidth(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.stderr) }))
		reader := progressbar.NewReader(f, bar)
		r = &reader
		progress = nil
	}
	n, err := reference.Import(ctx, db, table, r, filepath.Base(f.Name()), progress)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("import %s into %s failed; nothing was changed: %w", f.Name(), table, err)
	}
	fmt.Fprintf(c.stdout, "imported %s from %s into population.%s in %s.\n",
		cli.Plural(n, "row"), f.Name(), table, time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *ReferenceCommand) status(ctx context.Context, db *dbx.DB) error {
	sources, err := reference.Sources(ctx, db)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TABLE\tSOURCE\tROWS\tLOADED (UTC)\tFILE")
	has := map[string]bool{}
	for _, s := range sources {
		loaded := "-"
		if s.LoadedAt != nil {
			loaded = s.LoadedAt.Format(time.DateTime)
		}
		file := s.FileName
		if file == "" {
			file = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", s.Table, s.Source, s.Rows, loaded, file)
		has[s.Source] = true
	}
	w.Flush()
	if has["sample"] {
		fmt.Fprintln(c.stdout, "\nSample tables hold synthetic values, not real CDC/ADI data; import the real files with `healthsim reference import TABLE FILE.csv`.")
	}
	if has["empty"] {
		fmt.Fprintln(c.stdout, "\nFill empty tables with `healthsim reference load-sample` (synthetic) or `healthsim reference import TABLE FILE.csv`.")
	}
	return nil
}
