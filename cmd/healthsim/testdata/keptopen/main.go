// Command keptopen is the benchmarks' reference point for healthsim_query:
// an MCP server over stdio whose healthsim_query runs the SQL as given on a
// kept-open duckdb-go read-only pool, as the Go DuckDB MCP servers users
// pick today (duckdb-mcp, gateway) do. It
// has none of healthsim's safety: no gate, no row or size bound, no JSON-safe values, and it holds the file for its
// whole life. BenchmarkReadToolCallTS runs it in the same harness and the
// same run as healthsim serve, so the two compare on one machine load.
//
//	keptopen serve --db FILE [ignored flags]
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

func main() {
	i := slices.Index(os.Args, "--db")
	if i < 0 || i+1 >= len(os.Args) {
		fmt.Fprintln(os.Stderr, "usage: keptopen serve --db FILE")
		os.Exit(2)
	}
	pool, err := sql.Open("duckdb", os.Args[i+1]+"?access_mode=READ_ONLY")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool.SetMaxIdleConns(4)
	s := server.NewMCPServer("keptopen", "1")
	s.AddTool(mcp.NewTool("healthsim_query", mcp.WithString("sql", mcp.Required())),
		func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			out, err := query(ctx, pool, req.GetString("sql", ""))
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			text, err := json.Marshal(out)
			if err != nil {
				return mcp.NewToolResultError(err.Error()), nil
			}
			return mcp.NewToolResultStructured(out, string(text)), nil
		})
	if err := server.ServeStdio(s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// query runs sql and returns its rows in healthsim_query's shape.
func query(ctx context.Context, pool *sql.DB, sql string) (map[string]any, error) {
	rows, err := pool.QueryContext(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := [][]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return map[string]any{"columns": cols, "rows": out, "row_count": len(out)}, rows.Err()
}
