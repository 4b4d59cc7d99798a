package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/healthsim/healthsim-go/internal/cli"
	"github.com/healthsim/healthsim-go/mcp/sqlgate"
)

const querySynopsis = `query [flags] "SELECT ..."

Runs one read-only SELECT through the read pool, in the same sandbox as the
healthsim_query tool, and prints an aligned table (or --json, --csv). The
database must exist: a missing one, or a file that is not a DuckDB
database, is an error naming the path, and nothing is created.`

// QueryCommand runs one read-only query for a person or a script.
type QueryCommand struct {
	*env
	db      cli.DB
	asJSON  bool
	asCSV   bool
	limit   int
	timeout time.Duration
}

func (c *QueryCommand) Run(ctx context.Context, args []string) error {
	fs := cli.NewFlagSet("query", "healthsim "+querySynopsis, c.stderr)
	c.db.Register(fs)
	fs.BoolVar(&c.asJSON, "json", false, "print the result as JSON (columns, rows, truncated)")
	fs.BoolVar(&c.asCSV, "csv", false, "print the result as CSV with a header line")
	fs.IntVar(&c.limit, "limit", 1000, "print at most this many rows (1-1000)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "stop the query after this long")
	pos, err := parse(fs, args)
	if err != nil {
		return cli.HelpOK(err)
	}
	switch {
	case len(pos) != 1:
		return cli.UsageError(fs, "query takes one SQL statement (quote it), got %d arguments", len(pos))
	case c.asJSON && c.asCSV:
		return cli.UsageError(fs, "choose --json or --csv, not both")
	case c.limit < 1 || c.limit > 1000:
		return cli.UsageError(fs, "--limit must be between 1 and 1000, got %d", c.limit)
	}
	db, err := c.db.OpenExisting(ctx, c.logger())
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := sqlgate.Run(ctx, db.Read(), pos[0], sqlgate.Options{Timeout: c.timeout, MaxRows: c.limit, MaxBytes: 64 << 20})
	var refused *sqlgate.RefusedError
	if errors.As(err, &refused) {
		return fmt.Errorf("refused: %s", refused.Reason)
	}
	if err != nil {
		return err
	}
	switch {
	case c.asJSON:
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case c.asCSV:
		err = writeCSV(c, res)
	default:
		err = writeTable(c, res)
	}
	if err == nil && res.Truncated {
		fmt.Fprintf(c.stderr, "healthsim: showing the first %s: %s\n", cli.Plural(res.RowCount, "row"), res.TruncatedReason)
	}
	return err
}

func writeCSV(c *QueryCommand, res *sqlgate.Result) error {
	w := csv.NewWriter(c.stdout)
	header := make([]string, len(res.Columns))
	for i, col := range res.Columns {
		header[i] = col.Name
	}
	_ = w.Write(header)
	for _, row := range res.Rows {
		rec := make([]string, len(row))
		for i, v := range row {
			if v != nil {
				rec[i] = cell(v)
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	return w.Error()
}

func writeTable(c *QueryCommand, res *sqlgate.Result) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	names := make([]string, len(res.Columns))
	rules := make([]string, len(res.Columns))
	for i, col := range res.Columns {
		names[i], rules[i] = col.Name, strings.Repeat("-", max(len(col.Name), 1))
	}
	fmt.Fprintln(tw, strings.Join(names, "\t"))
	fmt.Fprintln(tw, strings.Join(rules, "\t"))
	for _, row := range res.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			cells[i] = "NULL"
			if v != nil {
				cells[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(cell(v))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(c.stdout, "(%s)\n", cli.Plural(res.RowCount, "row"))
	return err
}

// cell formats one JSON-safe value: strings as they are, the rest as JSON.
func cell(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
