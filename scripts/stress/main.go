// Command stress runs several `healthsim serve` processes on one DuckDB
// file, as desktop clients do (one server per window), and drives each with
// its own MCP client over stdio: one goroutine reads without pause
// (healthsim_list_scenarios, a point query through healthsim_query,
// healthsim_get_summary), another saves a scenario with a unique name at a
// fixed rate. After the run it interrupts the servers (SIGTERM; Ctrl-Break
// on Windows), reads the file back in this process and prints a summary:
// operations, errors by kind, save latency, reads per second, and lost
// writes (saves that were acknowledged but are missing or incomplete in
// the file).
//
//	go run ./scripts/stress --processes 3 --duration 20s --save-every 100ms
//
// The exit status is 0 when every call succeeded and no write was lost, 1
// otherwise, 2 for bad flags. The servers speak stdio only: nothing listens
// on a network address.
package main

import "github.com/healthsim/healthsim-go/internal/cli"

func main() { cli.Main("stress", run) }
