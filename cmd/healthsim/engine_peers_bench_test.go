package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/process"
)

// BenchmarkReadCallPeers3 is BenchmarkReadCallPeers without gateway:
// healthsim serve, keptopen and duckdb-mcp on the peers' file, the same
// cases, rounds and report. It needs only $HEALTHSIM_PEER_DUCKDB_MCP, so
// it runs where gateway cannot be built; with test binaries of two
// duckdb-go versions run in turn, healthsim and keptopen change engine and
// duckdb-mcp (its own DuckDB) does not.
func BenchmarkReadCallPeers3(b *testing.B) {
	bin, err := executable(os.Getenv("HEALTHSIM_PEER_DUCKDB_MCP"))
	if err != nil {
		b.Skipf("$HEALTHSIM_PEER_DUCKDB_MCP: %v", err)
	}
	for _, c := range []struct {
		name string
		text func(id int64, k int) string
	}{
		{"same-text", func(id int64, _ int) string { return fmt.Sprintf("SELECT a FROM big WHERE id = %d", id) }},
		{"new-text", func(id int64, k int) string {
			return fmt.Sprintf("SELECT a FROM big WHERE id = %d /* call %d */", id, k)
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.StopTimer()
			path := peersDatabase(b)
			keptOpen, err := keptOpenBinary()
			if err != nil {
				b.Fatal(err)
			}
			servers := []*peerServer{
				startPeer(b, &peerServer{name: "healthsim", tool: "healthsim_query", arg: "sql", value: structuredValue},
					exec.Command(serverBinary(b), "serve", "--db", path, "--log-level", "warn")),
				startPeer(b, &peerServer{name: "keptopen", tool: "healthsim_query", arg: "sql", value: structuredValue},
					exec.Command(keptOpen, "serve", "--db", path)),
				startPeer(b, &peerServer{name: "duckdb-mcp", tool: "query", arg: "sql", value: duckdbMCPValue},
					exec.Command(bin, "run", "--in-memory", "--datasource", path+"?access_mode=READ_ONLY")),
			}
			runPeerRounds(b, c.name, servers, c.text)
		})
	}
}

// runPeerRounds is runPeers' warm-up, rounds and report on servers
// already started.
func runPeerRounds(b *testing.B, name string, servers []*peerServer, text func(id int64, k int) string) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	k := 0
	for _, s := range servers {
		id := rng.Int64N(peersRows)
		for range warmUp {
			if _, err := s.call(ctx, text(id, k), id*7); err != nil {
				b.Fatal(err)
			}
			k++
		}
	}
	for round := range peersRounds {
		id := rng.Int64N(peersRows)
		for i := range servers {
			s := servers[(round+i)%len(servers)]
			for range peersTurnWarmUp {
				if _, err := s.call(ctx, text(id, k), id*7); err != nil {
					b.Fatal(err)
				}
				k++
			}
			texts := make([]string, b.N)
			for j := range texts {
				texts[j] = text(id, k)
				k++
			}
			b.StartTimer()
			loop := time.Now()
			for _, t := range texts {
				took, err := s.call(ctx, t, id*7)
				if err != nil {
					b.Fatal(err)
				}
				s.times = append(s.times, took)
			}
			s.loops += time.Since(loop)
			b.StopTimer()
			s.rss = append(s.rss, process.Memory(s.pid, "VmRSS"))
		}
	}
	reportPeers(b, name, servers)
}
