package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
	"github.com/healthsim/healthsim-go/internal/benchsupport/syncbuf"
	"github.com/healthsim/healthsim-go/migrations"
	"github.com/jmoiron/sqlx"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkReadCallPeers compares our read call with two Go DuckDB MCP
// servers users pick today, and with keptopen, in one run:
//
//	healthsim   healthsim serve, tool healthsim_query {"sql": …}
//	keptopen    testdata/keptopen, tool healthsim_query {"sql": …}
//	duckdb-mcp  github.com/richardwooding/duckdb-mcp, tool query {"sql": …}
//	gateway     github.com/centralmind/gateway, tool query {"query": …}
//
// All four serve the same file at once, read-only (see peersDatabase),
// over stdio, each driven by its own Go SDK client in this process; calls
// go one after the other. The query is SELECT a FROM big WHERE id = <id>,
// and every answer must hold the one value id*7:
//
//	same-text  the same text on every call of a turn
//	new-text   a new text on every call: the same query with a
//	           "/* call k */" comment, k never repeating, so that
//	           healthsim's gate parses every call (as a model's queries
//	           differ)
//
// Each case runs peersRounds rounds. In a round every server takes one
// turn: peersTurnWarmUp untimed calls, then b.N timed calls; the order
// rotates from round to round (the turn's untimed calls keep healthsim's
// first call after an idle second out of the timings: dbx lets go of the
// file one read lease after the last query, and the next attaches it
// again). A round's id is drawn at random (fixed
// seed) and shared by the servers. Run it with -benchtime Nx: b.N is
// the number of timed calls per server per round. Each server first gets
// warmUp untimed calls before the first round.
//
// Reported per server: p50 and p99 of the 3×b.N call times, calls/s (timed
// calls over the time of the timed loops), and VmRSS of the server process
// after the last round (Linux only); ns/op is healthsim's mean call. The
// log has a Markdown table with every round's RSS and the ratios
// healthsim/peer.
//
// The peers are not on the module proxy: build them from their
// repositories at the commits below and name the binaries in
// $HEALTHSIM_PEER_DUCKDB_MCP and $HEALTHSIM_PEER_GATEWAY. Without
// duckdb-mcp the benchmark skips; without gateway it runs the other three
// and logs so.
func BenchmarkReadCallPeers(b *testing.B) {
	peers := map[string]string{}
	for _, p := range peerBuilds {
		bin, err := executable(os.Getenv(p.env))
		if err == nil {
			peers[p.name] = bin
			continue
		}
		build := fmt.Sprintf("$%[1]s, the %[2]s binary (%[3]v). Build it (cgo) and point the variable at it:\n"+
			"  git clone %[4]s %[2]s && git -C %[2]s checkout %[5]s && (cd %[2]s && go build -o ../bin/%[2]s .)\n"+
			"  export %[1]s=$PWD/bin/%[2]s", p.env, p.name, err, p.repo, p.commit)
		if p.name == "duckdb-mcp" {
			b.Skipf("BenchmarkReadCallPeers needs %s", build)
		}
		b.Logf("left out: %s", build)
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
			runPeers(b, c.name, peersDatabase(b), peers, c.text)
		})
	}
}

// peerBuilds are the peers BenchmarkReadCallPeers runs, and how to build
// them.
var peerBuilds = []struct{ name, env, repo, commit string }{
	{"duckdb-mcp", "HEALTHSIM_PEER_DUCKDB_MCP", "https://github.com/richardwooding/duckdb-mcp", "fca90a780a711c2eccc1a37e80699fa1ebbc571f"},
	{"gateway", "HEALTHSIM_PEER_GATEWAY", "https://github.com/centralmind/gateway", "82eaeff6f61493731907d96795d18c4751f2d996"},
}

// executable checks that path names an executable file.
func executable(path string) (string, error) {
	if path == "" {
		return "", errors.New("it is not set")
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	return filepath.Abs(path)
}

const (
	peersRounds     = 3
	peersTurnWarmUp = 10 // untimed calls at the start of each turn
	peersRows       = 45_000_000
	// peersStorage is the storage format of the peers' file: the newest
	// that gateway's DuckDB (1.2.1, through go-duckdb v2.1.0) reads. dbx
	// would create a new file in v1.4.0, which DuckDB 1.2 cannot open.
	peersStorage = "v1.2.0"
	peersLayout  = "v1" // change when the generator changes
)

var peersDB struct {
	sync.Mutex
	path string
}

// peersDatabase returns a HealthSim database (the real migrations, in
// storage format peersStorage) with a table big(id, a, d, s) of peersRows
// rows, a = id*7: about 1.1 GB. It is built once (a minute or two) into
// the bench folder and reused.
func peersDatabase(b *testing.B) string {
	b.Helper()
	peersDB.Lock()
	defer peersDB.Unlock()
	if peersDB.path != "" {
		return peersDB.path
	}
	dir, err := benchDir()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("peers-%s-m%d-%s-big%dM.duckdb", peersLayout, migrations.Latest(), peersStorage, peersRows/1_000_000))
	if _, err := os.Stat(path); err == nil {
		b.Logf("using %s (%d bytes), built earlier", path, fileSize(path))
	} else {
		start := time.Now()
		buildPeersDatabase(b, path)
		b.Logf("built %s (%d bytes) in %v", path, fileSize(path), time.Since(start).Round(time.Millisecond))
	}
	peersDB.path = path
	return path
}

// buildPeersDatabase creates the file in peersStorage with plain duckdb-go,
// migrates it and adds big through dbx, under a temporary name, and
// renames it once complete.
func buildPeersDatabase(b *testing.B, path string) {
	ctx := context.Background()
	tmp := path + ".partial"
	for _, f := range append([]string{tmp, tmp + ".wal"}, dbx.Sidecars(tmp)...) { // an interrupted earlier build
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.Fatal(err)
		}
	}
	mem, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	_, err = mem.Exec(fmt.Sprintf("ATTACH %s AS f (STORAGE_VERSION '%s'); DETACH f", sqlString(tmp), peersStorage))
	if err := errors.Join(err, mem.Close()); err != nil {
		b.Fatal(err)
	}
	db, err := dbx.Open(ctx, tmp, dbx.WithWriteLinger(0), dbx.WithCheckpointEvery(1, 1))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := migrations.Up(ctx, db); err != nil {
		b.Fatal(err)
	}
	err = db.Write(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`CREATE TABLE big AS
			SELECT i AS id, i*7 AS a, random() AS d, md5(i::VARCHAR) AS s FROM range(%d) t(i)`, peersRows))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(tmp + ".wal"); err == nil {
		b.Fatalf("%s.wal left after close", tmp)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	for _, f := range dbx.Sidecars(tmp) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			b.Fatal(err)
		}
	}
}

// peerServer is one running server and its client.
type peerServer struct {
	name    string
	session *sdk.ClientSession
	pid     int
	tool    string                                   // the query tool
	arg     string                                   // its SQL argument
	value   func(*sdk.CallToolResult) (int64, error) // the answer's one value
	times   []time.Duration                          // timed calls, every round
	loops   time.Duration                            // time of the timed loops
	rss     []int64                                  // VmRSS bytes after each round
}

// startPeer starts cmd and connects a Go SDK client to it over stdio. The
// server stops when the benchmark ends.
func startPeer(b *testing.B, s *peerServer, cmd *exec.Cmd) *peerServer {
	b.Helper()
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-bench-peers", Version: "1"}, nil)
	session, err := client.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		b.Fatalf("start %s %v: %v\n%s", s.name, cmd.Args, err, stderr)
	}
	b.Cleanup(func() {
		if err := session.Close(); err != nil {
			b.Logf("stop %s: %v", s.name, err)
		}
		if out := stderr.String(); out != "" && b.Failed() {
			b.Logf("%s stderr:\n%s", s.name, out)
		}
	})
	s.session, s.pid = session, cmd.Process.Pid
	return s
}

// call runs one query and checks that its one value is want. It returns
// how long the call took, without the check.
func (s *peerServer) call(ctx context.Context, text string, want int64) (time.Duration, error) {
	start := time.Now()
	res, err := callTool(ctx, s.session, s.tool, map[string]any{s.arg: text})
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("%s: %w", s.name, err)
	}
	got, err := s.value(res)
	if err != nil {
		return took, fmt.Errorf("%s: %s: %w", s.name, text, err)
	}
	if got != want {
		return took, fmt.Errorf("%s: %s returned %d, want %d", s.name, text, got, want)
	}
	return took, nil
}

// startPeers starts the servers on path, healthsim first, gateway last
// if it was built.
func startPeers(b *testing.B, path string, peers map[string]string) []*peerServer {
	keptOpen, err := keptOpenBinary()
	if err != nil {
		b.Fatal(err)
	}
	servers := []*peerServer{
		startPeer(b, &peerServer{name: "healthsim", tool: "healthsim_query", arg: "sql", value: structuredValue},
			exec.Command(serverBinary(b), "serve", "--db", path, "--log-level", "warn")),
		startPeer(b, &peerServer{name: "keptopen", tool: "healthsim_query", arg: "sql", value: structuredValue},
			exec.Command(keptOpen, "serve", "--db", path)),
		// duckdb-mcp opens its datasource read-write (and only with
		// --in-memory: its flag check is inverted), which would lock the
		// others out; the DSN's access_mode makes it read-only.
		startPeer(b, &peerServer{name: "duckdb-mcp", tool: "query", arg: "sql", value: duckdbMCPValue},
			exec.Command(peers["duckdb-mcp"], "run", "--in-memory", "--datasource", path+"?access_mode=READ_ONLY")),
	}
	if gateway, ok := peers["gateway"]; ok {
		// gateway makes its log folder at start, in $CENTRALMIND_LOG_DIR;
		// --connection-string needs no gateway.yaml.
		cmd := exec.Command(gateway, "start", "stdio", "--connection-string", "duckdb://"+path)
		cmd.Env = append(os.Environ(), "CENTRALMIND_LOG_DIR="+b.TempDir())
		// gateway opens duckdb:// files read-only itself.
		servers = append(servers, startPeer(b, &peerServer{name: "gateway", tool: "query", arg: "query", value: gatewayValue}, cmd))
	}
	return servers
}

// structuredValue reads the one value of a healthsim_query result (also
// keptopen's): {"rows": [[v]], "row_count": 1, …}.
func structuredValue(res *sdk.CallToolResult) (int64, error) {
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return 0, err
	}
	var out struct {
		Rows     [][]json.Number `json:"rows"`
		RowCount int             `json:"row_count"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || out.RowCount != 1 || len(out.Rows) != 1 || len(out.Rows[0]) != 1 {
		return 0, fmt.Errorf("unexpected result %.300s (%v)", raw, err)
	}
	return out.Rows[0][0].Int64()
}

// duckdbMCPValue reads duckdb-mcp's answer: one text, [{"a": v}].
func duckdbMCPValue(res *sdk.CallToolResult) (int64, error) {
	texts := resultTexts(res)
	var rows []map[string]json.Number
	if len(texts) != 1 || json.Unmarshal([]byte(texts[0]), &rows) != nil || len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("unexpected result %q", texts)
	}
	return rows[0]["a"].Int64()
}

// gatewayValue reads gateway's answer: "Found 1 records-(s).", then each
// row as YAML, "a: v".
func gatewayValue(res *sdk.CallToolResult) (int64, error) {
	texts := resultTexts(res)
	if len(texts) != 2 || texts[0] != "Found 1 records-(s)." || !strings.HasPrefix(texts[1], "a: ") {
		return 0, fmt.Errorf("unexpected result %q", texts)
	}
	return strconv.ParseInt(strings.TrimSpace(strings.TrimPrefix(texts[1], "a: ")), 10, 64)
}

func resultTexts(res *sdk.CallToolResult) []string {
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	return texts
}

// runPeers runs one case: start the servers, warm them up, run the rounds
// and report.
func runPeers(b *testing.B, name, path string, peers map[string]string, text func(id int64, k int) string) {
	ctx := context.Background()
	servers := startPeers(b, path, peers)
	rng := rand.New(rand.NewPCG(1, 2))
	k := 0 // calls so far: new-text's comment
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
			s.rss = append(s.rss, procctl.Memory(s.pid, "VmRSS"))
		}
	}
	reportPeers(b, name, servers)
}

// reportPeers reports each server's figures and the ratios, and logs them
// as one Markdown table (testing keeps 10 lines of a benchmark's log, so it
// stays short). b.N = 1 is testing's first run, before the -benchtime Nx
// one: its figures are reported but not logged, so that the log holds the
// real run's table.
func reportPeers(b *testing.B, name string, servers []*peerServer) {
	type figures struct{ p50, p99, perS float64 }
	fig := map[string]figures{}
	for _, s := range servers {
		f := figures{
			p50:  micros(latency.Percentile(s.times, 50)),
			p99:  micros(latency.Percentile(s.times, 99)),
			perS: float64(len(s.times)) / s.loops.Seconds(),
		}
		fig[s.name] = f
		b.ReportMetric(f.p50, s.name+"-p50-µs")
		b.ReportMetric(f.p99, s.name+"-p99-µs")
		b.ReportMetric(f.perS, s.name+"-calls/s")
		if last := s.rss[len(s.rss)-1]; last >= 0 {
			b.ReportMetric(float64(last)/(1<<20), s.name+"-rss-MB")
		}
		if s.name == "healthsim" {
			var total time.Duration
			for _, t := range s.times {
				total += t
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(len(s.times)), "ns/op")
		}
	}
	h := fig["healthsim"]
	for _, s := range servers {
		if s.name != "healthsim" {
			b.ReportMetric(h.p50/fig[s.name].p50, "p50-x-healthsim/"+s.name)
		}
	}
	if b.N == 1 {
		return
	}
	var table strings.Builder
	fmt.Fprintf(&table, "%s: %d rounds × %d calls per server, one client, sequential; "+
		"last column healthsim ÷ this server (p50, p99 above 1 or calls/s below 1: healthsim slower)\n", name, peersRounds, b.N)
	table.WriteString("| server | p50 ms | p99 ms | calls/s | RSS MB after rounds 1/2/3 | healthsim/this p50 · p99 · calls/s |\n|---|---|---|---|---|---|\n")
	for _, s := range servers {
		f := fig[s.name]
		var rss []string
		for _, r := range s.rss {
			rss = append(rss, fmt.Sprintf("%.0f", float64(r)/(1<<20)))
		}
		ratio := "—"
		if s.name != "healthsim" {
			ratio = fmt.Sprintf("%.2f · %.2f · %.2f", h.p50/f.p50, h.p99/f.p99, h.perS/f.perS)
		}
		fmt.Fprintf(&table, "| %s | %.3f | %.3f | %.0f | %s | %s |\n", s.name, f.p50/1e3, f.p99/1e3, f.perS, strings.Join(rss, " / "), ratio)
	}
	b.Log(strings.TrimSuffix(table.String(), "\n"))
}
