package mcp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/healthsim/healthsim-go/mcp/input"
	"github.com/healthsim/healthsim-go/mcp/reference"
	"github.com/healthsim/healthsim-go/mcp/scenario"
	"github.com/healthsim/healthsim-go/mcp/sqlgate"
	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func (s *Server) queryTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_query",
		mcpgo.WithTitleAnnotation("Query the database (read-only SQL)"),
		mcpgo.WithDescription(fmt.Sprintf("Run one read-only SELECT (DuckDB SQL) over the HealthSim tables (see healthsim_tables) and get the rows back. "+
			"Writes, files, ATTACH, SET, PRAGMA and the like are refused. A query is stopped after %s, or when it needs more memory than the server allows; at most limit rows and 256 KiB come back, with truncated set when more were left out.", s.opts.QueryTimeout)),
		mcpgo.WithString("sql", mcpgo.Required(), mcpgo.MinLength(1), mcpgo.MaxLength(sqlgate.MaxSQLBytes),
			mcpgo.Description("One SELECT statement, e.g. SELECT gender, count(*) FROM patients GROUP BY gender.")),
		mcpgo.WithInteger("limit", mcpgo.Min(1), mcpgo.Max(1000), mcpgo.DefaultNumber(100),
			mcpgo.Description("At most this many rows come back.")),
		mcpgo.WithOutputSchema[sqlgate.Result](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args := struct {
			SQL   string `json:"sql"`
			Limit int    `json:"limit"`
		}{Limit: 100}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		res, err := sqlgate.Run(ctx, s.db.Read(), args.SQL, sqlgate.Options{Timeout: s.opts.QueryTimeout, MaxRows: args.Limit})
		var refused *sqlgate.RefusedError
		switch {
		case err == nil:
			return structured(res)
		case errors.As(err, &refused):
			return mcpgo.NewToolResultErrorf("Refused: %s healthsim_query runs one read-only SELECT over the HealthSim tables.", sentence(refused.Reason)), nil
		case errors.Is(err, sqlgate.ErrTimeout):
			return mcpgo.NewToolResultErrorf("Stopped: %s.", strings.TrimPrefix(err.Error(), sqlgate.ErrTimeout.Error()+": ")), nil
		case errors.Is(err, sqlgate.ErrMemory):
			return mcpgo.NewToolResultErrorf("Stopped: %s.", strings.TrimPrefix(err.Error(), sqlgate.ErrMemory.Error()+": ")), nil
		case isSQLError(err):
			return mcpgo.NewToolResultErrorf("The query failed: %v. Call healthsim_tables for the tables and their columns.", err), nil
		}
		return s.failure(ctx, "run the query", err), nil
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

// isSQLError reports whether err is DuckDB rejecting the query itself (a
// typo, an unknown column), which the caller can fix by changing the SQL.
func isSQLError(err error) bool {
	msg := err.Error()
	for _, kind := range []string{"Parser Error", "Binder Error", "Catalog Error", "Conversion Error", "Invalid Input Error", "Out of Range Error", "Not implemented Error"} {
		if strings.Contains(msg, kind) {
			return true
		}
	}
	return false
}

// sentence makes s end with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func (s *Server) queryReferenceTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_query_reference",
		mcpgo.WithTitleAnnotation("Look up population reference data"),
		mcpgo.WithDescription("Look up population reference data by state and county: CDC PLACES health measures (places_county, places_tract), CDC/ATSDR Social Vulnerability Index (svi_county, svi_tract) and the Area Deprivation Index (adi_blockgroup). The result says whether the rows are real imported data or the built-in sample."),
		mcpgo.WithString("table", mcpgo.Required(), mcpgo.Enum(reference.Tables()...), mcpgo.Description("The reference table.")),
		mcpgo.WithString("state", mcpgo.Description("A state: two-letter abbreviation (CA), name (California) or FIPS code (06).")),
		mcpgo.WithString("county", mcpgo.Description("A county: name (Los Angeles, with or without \"County\") or 5-digit FIPS code (06037).")),
		mcpgo.WithInteger("limit", mcpgo.Min(1), mcpgo.Max(100), mcpgo.DefaultNumber(20), mcpgo.Description("At most this many rows come back.")),
		mcpgo.WithOutputSchema[reference.Result](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		args := struct {
			Table  string `json:"table"`
			State  string `json:"state"`
			County string `json:"county"`
			Limit  int    `json:"limit"`
		}{Limit: 20}
		if res := bind(req, &args); res != nil {
			return res, nil
		}
		res, err := reference.Query(ctx, s.db, args.Table, reference.QueryOptions{State: args.State, County: args.County, Limit: args.Limit})
		var invalid *input.Error
		if errors.As(err, &invalid) {
			return mcpgo.NewToolResultErrorf("Could not query %s: %s", args.Table, sentence(invalid.Message)), nil
		}
		if err != nil {
			return s.failure(ctx, "query "+args.Table, err), nil
		}
		return structured(res)
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

// TablesOutput is the result of healthsim_tables.
type TablesOutput struct {
	Reference []TableInfo `json:"reference"` // schema population: public reference data
	Entity    []TableInfo `json:"entity"`    // the canonical entity tables
	System    []TableInfo `json:"system"`    // scenario bookkeeping and schema version
}

// TableInfo describes one table for someone about to write SQL.
type TableInfo struct {
	Name    string `json:"name"`    // as written in SQL, e.g. population.svi_county
	Rows    int64  `json:"rows"`    // DuckDB's row estimate
	Columns string `json:"columns"` // "name TYPE, ..." in table order
	Source  string `json:"source,omitempty"`
}

func (s *Server) tablesTool() server.ServerTool {
	tool := mcpgo.NewTool("healthsim_tables",
		mcpgo.WithTitleAnnotation("List tables and columns"),
		mcpgo.WithDescription("List the database's tables with their columns and row counts, grouped as reference data (population.*), entity tables (one per entity type, filled by saved scenarios) and system tables. Use before writing SQL for healthsim_query."),
		mcpgo.WithOutputSchema[TablesOutput](),
		readTool(),
	)
	handler := func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		out, err := s.tables(ctx)
		if err != nil {
			return s.failure(ctx, "list the tables", err), nil
		}
		return structured(out)
	}
	return server.ServerTool{Tool: tool, Handler: handler}
}

func (s *Server) tables(ctx context.Context) (*TablesOutput, error) {
	var rows []struct {
		Schema  string `db:"schema_name"`
		Table   string `db:"table_name"`
		Rows    int64  `db:"estimated_size"`
		Columns string `db:"columns"`
	}
	err := s.db.Read().SelectContext(ctx, &rows, `
		SELECT t.schema_name, t.table_name, t.estimated_size,
			(SELECT string_agg(c.column_name || ' ' || c.data_type, ', ' ORDER BY c.column_index)
			   FROM duckdb_columns() c
			  WHERE c.database_name = t.database_name AND c.schema_name = t.schema_name AND c.table_name = t.table_name) AS columns
		FROM duckdb_tables() t
		WHERE t.database_name = current_database() AND NOT t.temporary
		ORDER BY t.schema_name, t.table_name`)
	if err != nil {
		return nil, err
	}
	sources, err := reference.Sources(ctx, s.db)
	if err != nil {
		return nil, err
	}
	out := &TablesOutput{Reference: []TableInfo{}, Entity: []TableInfo{}, System: []TableInfo{}}
	entityTypes := scenario.EntityTypes()
	for _, r := range rows {
		info := TableInfo{Name: r.Table, Rows: r.Rows, Columns: r.Columns}
		if r.Schema != "main" {
			info.Name = r.Schema + "." + r.Table
		}
		switch {
		case r.Schema == "population" && slices.Contains(reference.Tables(), r.Table):
			for _, src := range sources {
				if src.Table == r.Table {
					info.Source = src.Source
				}
			}
			out.Reference = append(out.Reference, info)
		case r.Schema == "main" && slices.Contains(entityTypes, r.Table):
			out.Entity = append(out.Entity, info)
		default:
			out.System = append(out.System, info)
		}
	}
	slices.SortFunc(out.Entity, func(a, b TableInfo) int {
		return slices.Index(entityTypes, a.Name) - slices.Index(entityTypes, b.Name)
	})
	return out, nil
}
