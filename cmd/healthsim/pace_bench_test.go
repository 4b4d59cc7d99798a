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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/healthsim/healthsim-go/internal/testsupport/proctest"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkModelPace measures the server at the pace a model uses it,
// with other processes beside it, on a copy of the 1.1 GB peers database
// (peersDatabase) where it writes:
//
//	hold             who holds the file read-write, seen from another
//	                 process: /proc/locks sampled every millisecond while
//	                 healthsim serve saves 10 patients once a second, then
//	                 while the seed's naive pattern (plain duckdb-go: open,
//	                 insert 10 rows, close) writes as often
//	foreign-readers  a plain duckdb-go process opening the file read-only
//	                 at random moments, never retrying, beside the server
//	                 saving 1 and 4 times a second and beside the seed
//	                 pattern writing as often
//	read-pace        read calls back to back, 1.5 s and 5 s apart, through
//	                 the query tools of healthsim serve, keptopen and
//	                 duckdb-mcp (read-only DSN; $HEALTHSIM_PEER_DUCKDB_MCP)
//
// Each part does its work once, whatever b.N (run it with -benchtime 1x),
// reports with ReportMetric and logs a Markdown table; hold also writes
// each save's timeline (answer, lock spans, the server's debug log) to
// $HEALTHSIM_BENCH_DIR/pace-hold.md. Knobs (environment): see paceKnobs.
// hold and foreign-readers read /proc/locks: Linux only.
func BenchmarkModelPace(b *testing.B) {
	b.Run("hold", benchPaceHold)
	b.Run("foreign-readers", benchPaceForeign)
	b.Run("read-pace", benchReadPace)
}

// paceKnobs are BenchmarkModelPace's settings, from the environment.
type paceKnobs struct {
	saves     int           // HEALTHSIM_PACE_SAVES: saves (and seed writes) at 1/s in hold; default 30
	caseLen   time.Duration // HEALTHSIM_PACE_CASE: length of each foreign-readers case; default 30s
	readerGap time.Duration // HEALTHSIM_PACE_READER_GAP: mean gap between foreign opens; default 75ms
	calls     int           // HEALTHSIM_PACE_CALLS: timed read calls per server per pace; default 20
	upgrade   bool          // HEALTHSIM_PACE_UPGRADE=1: hold and foreign-readers on a copy upgraded to storage NewFormat
}

func knobs(tb testing.TB) paceKnobs {
	return paceKnobs{
		saves:     envInt(tb, "HEALTHSIM_PACE_SAVES", 30),
		caseLen:   envDuration(tb, "HEALTHSIM_PACE_CASE", 30*time.Second),
		readerGap: envDuration(tb, "HEALTHSIM_PACE_READER_GAP", 75*time.Millisecond),
		calls:     envInt(tb, "HEALTHSIM_PACE_CALLS", 20),
		upgrade:   os.Getenv("HEALTHSIM_PACE_UPGRADE") == "1",
	}
}

func envInt(tb testing.TB, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("$%s=%q: want a positive number", name, s)
	}
	return n
}

func envDuration(tb testing.TB, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		tb.Fatalf("$%s=%q: want a positive duration such as 30s", name, s)
	}
	return d
}

// seedEveryEnv tells the pace-seed helper how often to write.
const seedEveryEnv = "HEALTHSIM_PACE_SEED_EVERY"

// seedWrites (helper pace-seed) is the seed's naive pattern in a second
// process: every $HEALTHSIM_PACE_SEED_EVERY, from 300 ms after it says
// ready, it opens the file read-write with plain duckdb-go, inserts 10
// rows in one transaction and closes it. When stdin closes it prints its
// writes as one line of JSON (seedReport).
func seedWrites(path string, done <-chan struct{}) error {
	every, err := time.ParseDuration(os.Getenv(seedEveryEnv))
	if err != nil {
		return err
	}
	if err := seedWrite(path, "CREATE TABLE IF NOT EXISTS seed_rows (id BIGINT, note VARCHAR)"); err != nil {
		return err
	}
	fmt.Println("ready")
	var out seedReport
	t0 := time.Now().Add(300 * time.Millisecond) // the reader starts meanwhile
	for i := 0; ; i++ {
		select {
		case <-done:
			return json.NewEncoder(os.Stdout).Encode(out)
		case <-time.After(time.Until(t0.Add(time.Duration(i) * every))):
		}
		start := time.Now()
		err := seedWrite(path, "INSERT INTO seed_rows SELECT ? * 10 + i, 'seed write' FROM range(10) t(i)", i)
		if err != nil {
			out.Failed = append(out.Failed, start.UnixNano())
			if out.FirstError == "" {
				out.FirstError = err.Error()
			}
			continue
		}
		out.Writes = append(out.Writes, [2]int64{start.UnixNano(), time.Now().UnixNano()})
	}
}

// seedReport is what pace-seed prints: each write's start and end, and
// the start of each failed write (Unix ns). Like the seed, it never
// retries: a write fails when a reader has the file open.
type seedReport struct {
	Writes     [][2]int64 `json:"writes"`
	Failed     []int64    `json:"failed"`
	FirstError string     `json:"first_error"`
}

// seedWrite opens path read-write, runs stmt in one transaction and closes.
func seedWrite(path, stmt string, args ...any) error {
	db, err := sql.Open("duckdb", path)
	if err != nil {
		return err
	}
	tx, err := db.Begin()
	if err == nil {
		if _, err = tx.Exec(stmt, args...); err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
	}
	return errors.Join(err, db.Close())
}

// foreignReads (helper pace-reader) is a plain DuckDB program that opens
// the file read-only at random moments (exponential gaps, mean
// $HEALTHSIM_PACE_READER_GAP), runs one small query and closes, never
// retrying, as pytest or a notebook does. When stdin closes it prints each
// attempt as one line of JSON (readerReport).
func foreignReads(path string, done <-chan struct{}) error {
	gap := 75 * time.Millisecond
	if s := os.Getenv("HEALTHSIM_PACE_READER_GAP"); s != "" {
		var err error
		if gap, err = time.ParseDuration(s); err != nil {
			return err
		}
	}
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 24))
	out := readerReport{Base: time.Now().UnixNano()}
	fmt.Println("ready")
	for {
		select {
		case <-done:
			return json.NewEncoder(os.Stdout).Encode(out)
		case <-time.After(time.Duration(rng.ExpFloat64() * float64(gap))):
		}
		at := (time.Now().UnixNano() - out.Base) / 1e6
		if err := foreignRead(path); err != nil {
			out.Failed = append(out.Failed, at)
			if len(out.Errors) < 3 {
				out.Errors = append(out.Errors, [2]any{at, err.Error()})
			}
		} else {
			out.OK = append(out.OK, at)
		}
	}
}

// readerReport is what pace-reader prints: when each open began, in ms
// after Base (Unix ns), and the first errors with their times.
type readerReport struct {
	Base   int64    `json:"base"`
	OK     []int64  `json:"ok"`
	Failed []int64  `json:"failed"`
	Errors [][2]any `json:"errors"`
}

// within counts the attempts that began in [from, to): successes and all.
func (r readerReport) within(from, to time.Time) (ok, all int) {
	in := func(ms int64) bool {
		t := time.Unix(0, r.Base+ms*1e6)
		return !t.Before(from) && t.Before(to)
	}
	for _, ms := range r.OK {
		if in(ms) {
			ok++
		}
	}
	all = ok
	for _, ms := range r.Failed {
		if in(ms) {
			all++
		}
	}
	return ok, all
}

// foreignRead opens path read-only, reads one value and closes.
func foreignRead(path string) error {
	db, err := sql.Open("duckdb", path+"?access_mode=READ_ONLY")
	if err != nil {
		return err
	}
	var a int64
	err = db.QueryRow("SELECT a FROM big WHERE id = 7").Scan(&a)
	return errors.Join(err, db.Close())
}

// lockSpan is one stretch of time during which pid held a WRITE lock on
// the file, as seen by the sampler: from the first sample that showed it
// to the first that did not.
type lockSpan struct {
	pid        int
	start, end time.Time
}

// lockSampler reads /proc/locks every millisecond and collects lockSpans.
type lockSampler struct {
	stop, done chan struct{}
	once       sync.Once
	spans      []lockSpan
	samples    int
	maxGap     time.Duration // longest time between two samples
	err        error
}

// sampleWriteLocks starts sampling who holds path read-write; it skips
// the benchmark where it cannot.
func sampleWriteLocks(b *testing.B, path string) *lockSampler {
	read, err := writeLockReader(path)
	if err != nil {
		b.Skipf("%s: %v", b.Name(), err)
	}
	s := &lockSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go s.run(read)
	b.Cleanup(func() { s.Stop() })
	return s
}

func (s *lockSampler) run(read func() ([]int, error)) {
	defer close(s.done)
	held := map[int]time.Time{}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			for pid, start := range held {
				s.spans = append(s.spans, lockSpan{pid, start, time.Now()})
			}
			return
		case <-tick.C:
		}
		pids, err := read()
		now := time.Now()
		if err != nil {
			s.err = err
			return
		}
		s.samples++
		s.maxGap = max(s.maxGap, now.Sub(last))
		last = now
		for _, pid := range pids {
			if _, ok := held[pid]; !ok {
				held[pid] = now
			}
		}
		for pid, start := range held {
			if !slices.Contains(pids, pid) {
				s.spans = append(s.spans, lockSpan{pid, start, now})
				delete(held, pid)
			}
		}
	}
}

// Stop ends sampling and returns the spans in order of start.
func (s *lockSampler) Stop() ([]lockSpan, error) {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	slices.SortFunc(s.spans, func(x, y lockSpan) int { return x.start.Compare(y.start) })
	return s.spans, s.err
}

// paceEvent is one save (or seed write): when it began, and when the
// client had its answer (the seed: when it had closed the file).
type paceEvent struct{ start, done time.Time }

// paceRun is what one phase observed: the writer's events at a fixed
// interval, and the writer's WRITE-lock spans.
type paceRun struct {
	pid      int
	every    time.Duration
	events   []paceEvent
	failed   int        // writes that failed (the seed's)
	spans    []lockSpan // pid's, sorted
	maxGap   time.Duration
	from, to time.Time // from the first write's start, one interval per write
}

// perEvent gives, for each event, the write-lock time of the spans that
// begin between its start and the next event's (its hold), and how long
// after the event's answer the last of them ended (negative: before).
func (r paceRun) perEvent() (holds, after []time.Duration) {
	for i, e := range r.events {
		next := r.to.Add(time.Hour)
		if i+1 < len(r.events) {
			next = r.events[i+1].start
		}
		var hold time.Duration
		var end time.Time
		for _, s := range r.spans {
			if !s.start.Before(e.start.Add(-time.Millisecond)) && s.start.Before(next.Add(-time.Millisecond)) {
				hold += s.end.Sub(s.start)
				end = s.end
			}
		}
		holds = append(holds, hold)
		if !end.IsZero() {
			after = append(after, end.Sub(e.done))
		}
	}
	return holds, after
}

// heldFraction is the share of the phase during which pid held the file.
func (r paceRun) heldFraction() float64 {
	var held time.Duration
	for _, s := range r.spans {
		from, to := s.start, s.end
		if from.Before(r.from) {
			from = r.from
		}
		if to.After(r.to) {
			to = r.to
		}
		if to.After(from) {
			held += to.Sub(from)
		}
	}
	return held.Seconds() / r.to.Sub(r.from).Seconds()
}

func (r paceRun) latencies() []time.Duration {
	var ds []time.Duration
	for _, e := range r.events {
		ds = append(ds, e.done.Sub(e.start))
	}
	return ds
}

// finish sets the phase's bounds, from the first write's start for n
// intervals, and keeps pid's spans from samples.
func (r *paceRun) finish(b *testing.B, s *lockSampler, first time.Time, n int) {
	spans, err := s.Stop()
	if err != nil {
		b.Fatal(err)
	}
	r.from = first
	r.to = r.from.Add(time.Duration(n) * r.every)
	for _, sp := range spans { // pid's, overlapping the phase
		if sp.pid == r.pid && sp.end.After(r.from) && sp.start.Before(r.to) {
			r.spans = append(r.spans, sp)
		}
	}
	r.maxGap = s.maxGap
}

// paceServer is a running healthsim serve, its client and its stderr.
type paceServer struct {
	session *sdk.ClientSession
	pid     int
	log     *timedLines
	stop    func() error
	saves   int // names: pace-<pid>-<n>
}

// startPaceServer runs healthsim serve on path at the log level given.
func startPaceServer(b *testing.B, path, level string) *paceServer {
	cmd := exec.Command(serverBinary(b), "serve", "--db", path, "--log-level", level)
	log := &timedLines{}
	cmd.Stderr = log
	client := sdk.NewClient(&sdk.Implementation{Name: "healthsim-bench-pace", Version: "1"}, nil)
	session, err := client.Connect(context.Background(), &sdk.CommandTransport{Command: cmd}, nil)
	if err != nil {
		b.Fatalf("start %v: %v\n%s", cmd.Args, err, log)
	}
	s := &paceServer{session: session, pid: cmd.Process.Pid, log: log, stop: sync.OnceValue(session.Close)}
	b.Cleanup(func() { s.stop() })
	return s
}

// save saves a new scenario of 10 patients.
func (s *paceServer) save(ctx context.Context) error {
	s.saves++
	name := fmt.Sprintf("pace-%d-%d", s.pid, s.saves)
	patients := make([]map[string]any, 10)
	for p := range patients {
		patients[p] = map[string]any{
			"id": fmt.Sprintf("%s-P%d", name, p), "mrn": fmt.Sprintf("%s-MRN-%d", name, p), "given_name": "Ana",
			"family_name": "Garcia", "birth_date": "1961-04-12", "gender": "female", "city": "Springfield", "state": "IL",
		}
	}
	_, err := callTool(ctx, s.session, "healthsim_save_scenario", map[string]any{
		"name": name, "description": "a save at a model's pace", "tags": []string{"bench"},
		"entities": map[string]any{"patients": patients},
	})
	return err
}

// savePhase saves n times, one save every interval, sampling the locks.
func (s *paceServer) savePhase(b *testing.B, path string, every time.Duration, n int) paceRun {
	ctx := context.Background()
	sampler := sampleWriteLocks(b, path)
	r := paceRun{pid: s.pid, every: every}
	t0 := time.Now()
	for i := range n {
		time.Sleep(time.Until(t0.Add(time.Duration(i) * every)))
		start := time.Now()
		if err := s.save(ctx); err != nil {
			b.Fatal(err)
		}
		r.events = append(r.events, paceEvent{start, time.Now()})
	}
	time.Sleep(time.Until(t0.Add(time.Duration(n) * every)))
	r.finish(b, sampler, r.events[0].start, n)
	return r
}

// seedPhase runs the seed pattern in a second process, n writes one every
// interval, sampling the locks; during calls the phase's middle.
func seedPhase(b *testing.B, path string, every time.Duration, n int, during func()) paceRun {
	b.Setenv(seedEveryEnv, every.String())
	sampler := sampleWriteLocks(b, path)
	p := proctest.StartReady(b, "pace-seed", path)
	during()
	time.Sleep(300*time.Millisecond + time.Duration(n)*every - every/2)
	p.CloseStdin()
	var out seedReport
	if err := json.Unmarshal([]byte(p.Line(b)), &out); err != nil {
		b.Fatal(err)
	}
	p.Stop()
	r := paceRun{pid: p.PID(), every: every, failed: len(out.Failed)}
	for _, w := range out.Writes {
		r.events = append(r.events, paceEvent{time.Unix(0, w[0]), time.Unix(0, w[1])})
	}
	if len(r.events) == 0 {
		b.Fatalf("the seed pattern's writes all failed: %s", out.FirstError)
	}
	first := r.events[0].start
	if len(out.Failed) > 0 && out.Failed[0] < first.UnixNano() {
		first = time.Unix(0, out.Failed[0])
	}
	r.finish(b, sampler, first, len(r.events)+r.failed)
	return r
}

// paceCopy copies the peers database for a part that writes, so the
// shared file keeps its layout (upgraded to storage NewFormat with
// HEALTHSIM_PACE_UPGRADE=1); it skips where the locks cannot be read.
func paceCopy(b *testing.B) string {
	if _, err := writeLockReader(os.Args[0]); err != nil {
		b.Skipf("%s: %v", b.Name(), err)
	}
	src := peersDatabase(b)
	dst := filepath.Join(b.TempDir(), "pace.duckdb")
	start := time.Now()
	if err := copyFile(src, dst, 0o644); err != nil {
		b.Fatal(err)
	}
	if knobs(b).upgrade {
		if out, err := exec.Command(serverBinary(b), "storage", "upgrade", "--db", dst).CombinedOutput(); err != nil {
			b.Fatalf("storage upgrade: %v\n%s", err, out)
		}
	}
	b.Logf("copied %s in %v (storage upgraded to %s: %v)", filepath.Base(src), time.Since(start).Round(time.Millisecond), NewFormat, knobs(b).upgrade)
	return dst
}

// benchPaceHold: the file held read-write per save, against the seed's
// naive pattern, and where the hold after a save's answer goes.
func benchPaceHold(b *testing.B) {
	k := knobs(b)
	path := paceCopy(b)
	srv := startPaceServer(b, path, "debug")
	if err := srv.save(context.Background()); err != nil { // untimed: the first save migrates nothing but loads the tables
		b.Fatal(err)
	}
	time.Sleep(time.Second)
	server := srv.savePhase(b, path, time.Second, k.saves)
	if err := srv.stop(); err != nil {
		b.Logf("stop server: %v", err)
	}
	seed := seedPhase(b, path, time.Second, k.saves, func() {})

	holds, after := server.perEvent()
	seedHolds, seedAfter := seed.perEvent()
	lat, seedLat := server.latencies(), seed.latencies()
	released := releasedAfterAnswer(server, srv.log)
	b.ReportMetric(ms(latency.Percentile(lat, 50)), "save-p50-ms")
	b.ReportMetric(ms(latency.Percentile(lat, 99)), "save-p99-ms")
	b.ReportMetric(ms(latency.Percentile(holds, 50)), "hold-p50-ms")
	b.ReportMetric(ms(latency.Percentile(holds, 99)), "hold-p99-ms")
	b.ReportMetric(100*server.heldFraction(), "held-%")
	b.ReportMetric(ms(latency.Percentile(after, 50)), "after-answer-p50-ms")
	b.ReportMetric(ms(latency.Percentile(seedHolds, 50)), "seed-hold-p50-ms")
	b.ReportMetric(ms(latency.Percentile(seedHolds, 99)), "seed-hold-p99-ms")
	b.ReportMetric(100*seed.heldFraction(), "seed-held-%")

	row := func(who string, r paceRun, lat, holds, after []time.Duration) string {
		return fmt.Sprintf("| %s | %d (%d failed) | %d | %.1f / %.1f | %.1f / %.1f | %.1f%% | %.1f / %.1f |",
			who, len(r.events), r.failed, len(r.spans), ms(latency.Percentile(lat, 50)), ms(latency.Percentile(lat, 99)),
			ms(latency.Percentile(holds, 50)), ms(latency.Percentile(holds, 99)), 100*r.heldFraction(),
			ms(latency.Percentile(after, 50)), ms(latency.Percentile(after, 99)))
	}
	b.Logf("hold: one write every 1 s, 10 patients (seed: 10 rows); lock table sampled every 1 ms (longest gap %v / %v)\n"+
		"| writer | writes | lock spans | write p50 / p99 ms | hold per write p50 / p99 ms | time held | held after the answer p50 / p99 ms |\n|---|---|---|---|---|---|---|\n%s\n%s\n%s",
		server.maxGap.Round(time.Microsecond), seed.maxGap.Round(time.Microsecond),
		row("`healthsim serve`", server, lat, holds, after), row("seed: open, insert, close", seed, seedLat, seedHolds, seedAfter), released)
	writeTimeline(b, "pace-hold.md", server, srv.log)
}

// releasedAfterAnswer correlates the server's "dbx: released file"
// debug lines with the saves' answers and the lock spans: the p50 of
// (log line − answer) and of (span end − log line).
func releasedAfterAnswer(r paceRun, log *timedLines) string {
	var logAfter, spanAfter []time.Duration
	lines := log.lines()
	for i, e := range r.events {
		next := r.to
		if i+1 < len(r.events) {
			next = r.events[i+1].start
		}
		var end time.Time
		for _, s := range r.spans {
			if !s.start.Before(e.start.Add(-time.Millisecond)) && s.start.Before(next) {
				end = s.end
			}
		}
		for _, l := range lines {
			if l.at.After(e.start) && l.at.Before(next) && strings.Contains(l.text, "released file") && strings.Contains(l.text, "mode=read-write") {
				logAfter = append(logAfter, l.at.Sub(e.done))
				if !end.IsZero() {
					spanAfter = append(spanAfter, end.Sub(l.at))
				}
				break
			}
		}
	}
	return fmt.Sprintf("server's debug log: \"dbx: released file\" (read-write) after %d of %d saves, p50 %.1f ms after the answer; the lock span ended p50 %.1f ms after that line arrived",
		len(logAfter), len(r.events), ms(latency.Percentile(logAfter, 50)), ms(latency.Percentile(spanAfter, 50)))
}

// writeTimeline writes each save's timeline (ms after the save's start:
// answer, lock spans, server log lines) to name in the bench folder.
func writeTimeline(b *testing.B, name string, r paceRun, log *timedLines) {
	dir, err := benchDir()
	if err != nil {
		b.Fatal(err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# %s, %s\n\nms after each save's start.\n\n", b.Name(), time.Now().UTC().Format(time.RFC3339))
	lines := log.lines()
	for i, e := range r.events {
		next := r.to
		if i+1 < len(r.events) {
			next = r.events[i+1].start
		}
		rel := func(t time.Time) string { return fmt.Sprintf("%.1f", ms(t.Sub(e.start))) }
		fmt.Fprintf(&out, "- save %d: answer %s", i, rel(e.done))
		for _, s := range r.spans {
			if !s.start.Before(e.start.Add(-time.Millisecond)) && s.start.Before(next) {
				fmt.Fprintf(&out, "; WRITE lock %s–%s", rel(s.start), rel(s.end))
			}
		}
		out.WriteString("\n")
		for _, l := range lines {
			if !l.at.Before(e.start) && l.at.Before(next) {
				text, _, _ := strings.Cut(l.text, " path=")
				if _, msg, ok := strings.Cut(text, "msg="); ok {
					text = msg
				}
				fmt.Fprintf(&out, "  - %s log: %s\n", rel(l.at), text)
			}
		}
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("per-save timeline: %s", path)
}

// benchPaceForeign: plain DuckDB read-only opens at random moments beside
// the server saving 1 and 4 times a second, and beside the seed pattern.
func benchPaceForeign(b *testing.B) {
	k := knobs(b)
	path := paceCopy(b)
	b.Setenv("HEALTHSIM_PACE_READER_GAP", k.readerGap.String())
	srv := startPaceServer(b, path, "warn")
	if err := srv.save(context.Background()); err != nil {
		b.Fatal(err)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "foreign-readers: %v per case, read-only opens every %v on average (exponential), no retry\n"+
		"| writer | writes | read-only opens | succeeded | hold per write p50 / p99 ms | time held | first error |\n|---|---|---|---|---|---|---|\n", k.caseLen, k.readerGap)
	for _, c := range []struct {
		name  string
		every time.Duration
		seed  bool
	}{
		{"server-1/s", time.Second, false},
		{"server-4/s", 250 * time.Millisecond, false},
		{"seed-1/s", time.Second, true},
		{"seed-4/s", 250 * time.Millisecond, true},
	} {
		n := int(k.caseLen / c.every)
		var reader *proctest.Process
		startReader := func() { reader = proctest.StartReady(b, "pace-reader", path) }
		var r paceRun
		if c.seed {
			if err := srv.stop(); err != nil {
				b.Logf("stop server: %v", err)
			}
			r = seedPhase(b, path, c.every, n, startReader)
		} else {
			time.Sleep(time.Second) // the server lets go after the last phase
			startReader()
			r = srv.savePhase(b, path, c.every, n)
		}
		reader.CloseStdin()
		var out readerReport
		if err := json.Unmarshal([]byte(reader.Line(b)), &out); err != nil {
			b.Fatal(err)
		}
		reader.Stop()
		ok, all := out.within(r.from, r.to)
		holds, _ := r.perEvent()
		firstErr := "—"
		if len(out.Errors) > 0 {
			firstErr = fmt.Sprint(out.Errors[0][1])
			const held = "Conflicting lock is held in "
			if i := strings.Index(firstErr, held); i >= 0 { // the file's path is long, the holder is what matters
				firstErr, _, _ = strings.Cut(held+firstErr[i+len(held):], ". See also")
			}
		}
		pct := 100 * float64(ok) / float64(max(all, 1))
		b.ReportMetric(pct, c.name+"-opens-ok-%")
		b.ReportMetric(ms(latency.Percentile(holds, 50)), c.name+"-hold-p50-ms")
		b.ReportMetric(100*r.heldFraction(), c.name+"-held-%")
		b.ReportMetric(float64(r.failed), c.name+"-writes-failed")
		who := "`healthsim serve`"
		if c.seed {
			who = "seed: open, insert, close"
		}
		fmt.Fprintf(&table, "| %s, %s | %d (%d failed) | %d | %.1f%% | %.1f / %.1f | %.1f%% | %s |\n", who, strings.TrimPrefix(strings.TrimPrefix(c.name, "server-"), "seed-"),
			len(r.events), r.failed, all, pct, ms(latency.Percentile(holds, 50)), ms(latency.Percentile(holds, 99)), 100*r.heldFraction(), firstErr)
	}
	b.Log(strings.TrimSuffix(table.String(), "\n"))
}

// benchReadPace: read calls back to back, 1.5 s and 5 s apart, through
// healthsim serve, keptopen and duckdb-mcp, interleaved.
func benchReadPace(b *testing.B) {
	k := knobs(b)
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
	}
	note := ""
	if bin, err := executable(os.Getenv("HEALTHSIM_PEER_DUCKDB_MCP")); err == nil {
		servers = append(servers, startPeer(b, &peerServer{name: "duckdb-mcp", tool: "query", arg: "sql", value: duckdbMCPValue},
			exec.Command(bin, "run", "--in-memory", "--datasource", path+"?access_mode=READ_ONLY")))
	} else {
		note = fmt.Sprintf("; without duckdb-mcp ($HEALTHSIM_PEER_DUCKDB_MCP: %v)", err)
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 24))
	call := func(s *peerServer) time.Duration {
		id := rng.Int64N(peersRows)
		took, err := s.call(ctx, fmt.Sprintf("SELECT a FROM big WHERE id = %d", id), id*7)
		if err != nil {
			b.Fatal(err)
		}
		return took
	}
	for _, s := range servers {
		for range peersTurnWarmUp {
			call(s)
		}
	}
	paces := []struct {
		name string
		gap  time.Duration
	}{{"back-to-back", 0}, {"1.5s", 1500 * time.Millisecond}, {"5s", 5 * time.Second}}
	var table strings.Builder
	fmt.Fprintf(&table, "read-pace: %d rounds per pace; a round calls each server once (order rotates), then sleeps the pace%s\n| pace |", k.calls, note)
	for _, s := range servers {
		fmt.Fprintf(&table, " %s p50 / p99 ms |", s.name)
	}
	table.WriteString(" healthsim ÷ keptopen p50 |\n|---|" + strings.Repeat("---|", len(servers)+1) + "\n")
	for _, p := range paces {
		times := make([][]time.Duration, len(servers))
		time.Sleep(p.gap)
		for round := range k.calls {
			for i := range servers {
				j := (round + i) % len(servers)
				times[j] = append(times[j], call(servers[j]))
			}
			time.Sleep(p.gap)
		}
		fmt.Fprintf(&table, "| %s |", p.name)
		for j, s := range servers {
			p50, p99 := ms(latency.Percentile(times[j], 50)), ms(latency.Percentile(times[j], 99))
			b.ReportMetric(p50, p.name+"-"+s.name+"-p50-ms")
			b.ReportMetric(p99, p.name+"-"+s.name+"-p99-ms")
			fmt.Fprintf(&table, " %.2f / %.2f |", p50, p99)
		}
		ratio := float64(latency.Percentile(times[0], 50)) / float64(latency.Percentile(times[1], 50))
		b.ReportMetric(ratio, p.name+"-p50-x-healthsim/keptopen")
		fmt.Fprintf(&table, " %.2f |\n", ratio)
	}
	b.Log(strings.TrimSuffix(table.String(), "\n"))
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// timedLines keeps each line written to it with the time it arrived (a
// child's stderr).
type timedLines struct {
	mu      sync.Mutex
	partial []byte
	all     []timedLine
}

type timedLine struct {
	at   time.Time
	text string
}

func (w *timedLines) Write(p []byte) (int, error) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := slices.Index(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.all = append(w.all, timedLine{now, string(w.partial[:i])})
		w.partial = w.partial[i+1:]
	}
}

func (w *timedLines) lines() []timedLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.all)
}

func (w *timedLines) String() string {
	var s strings.Builder
	for _, l := range w.lines() {
		s.WriteString(l.text + "\n")
	}
	return s.String()
}
