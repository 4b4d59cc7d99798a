package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// The kinds of call a client makes.
const (
	opList    = "list"    // healthsim_list_scenarios
	opQuery   = "query"   // healthsim_query, a point query by name
	opSummary = "summary" // healthsim_get_summary
	opSave    = "save"    // healthsim_save_scenario
)

// Error kinds besides "isError: <message prefix>".
const (
	errLock      = "lock"       // an isError result about a lock held by someone else
	errProtocol  = "protocol"   // CallTool returned an error: no result at all
	errBadResult = "bad result" // a result that contradicts what was saved
	errStale     = "stale read" // a point query missed a scenario this server had acknowledged
)

// lockText matches the tool errors that mean "someone else holds the
// file": the server's LockError sentence, or DuckDB's own message.
var lockText = regexp.MustCompile(`(?i)\bis held by\b|could not set lock|conflicting lock|another dbx process is writing`)

// classify names the kind of an isError result's text: errLock, or
// "isError: " and the text up to its first quote or colon, which is the
// same for every call of one kind ("Could not save scenario").
func classify(text string) string {
	if lockText.MatchString(text) {
		return errLock
	}
	p := text
	if i := strings.IndexAny(p, "\":"); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimSpace(p)
	if len(p) > 60 {
		p = p[:60]
	}
	return "isError: " + p
}

// stats is what one client saw. It is safe for concurrent use.
type stats struct {
	mu        sync.Mutex
	calls     map[string]int    // calls made, by op
	errs      map[string]int    // failed calls, by kind
	examples  map[string]string // the first message of each error kind
	saveTimes []time.Duration   // of acknowledged saves
	readTimes []time.Duration   // of successful read calls
	sent      map[string]int    // every save sent: name -> entities
	acked     map[string]int    // acknowledged saves: name -> entities
}

func newStats() *stats {
	return &stats{calls: map[string]int{}, errs: map[string]int{}, examples: map[string]string{},
		sent: map[string]int{}, acked: map[string]int{}}
}

func (s *stats) called(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
}

func (s *stats) fail(op, kind, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs[kind]++
	if _, ok := s.examples[kind]; !ok {
		s.examples[kind] = op + ": " + msg
	}
}

func (s *stats) read(took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readTimes = append(s.readTimes, took)
}

// reads returns the number of successful read calls.
func (s *stats) reads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.readTimes)
}

func (s *stats) send(name string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent[name] = n
}

func (s *stats) ack(name string, n int, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acked[name] = n
	s.saveTimes = append(s.saveTimes, took)
}

// errorCount returns the number of failed calls.
func (s *stats) errorCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.errs {
		n += c
	}
	return n
}

// merge returns one stats with everything in all.
func merge(all ...*stats) *stats {
	out := newStats()
	for _, s := range all {
		s.mu.Lock()
		for k, v := range s.calls {
			out.calls[k] += v
		}
		for k, v := range s.errs {
			out.errs[k] += v
		}
		for k, v := range s.examples {
			if _, ok := out.examples[k]; !ok {
				out.examples[k] = v
			}
		}
		out.saveTimes = append(out.saveTimes, s.saveTimes...)
		out.readTimes = append(out.readTimes, s.readTimes...)
		maps.Copy(out.sent, s.sent)
		maps.Copy(out.acked, s.acked)
		s.mu.Unlock()
	}
	return out
}

// driver drives one server: a reader that never pauses and a writer that
// saves a scenario every interval.
type driver struct {
	srv      *server
	st       *stats
	entities int
	every    time.Duration
	name     func(seq int) string // the seq-th save's scenario name
	last     atomic.Pointer[string]
}

// run runs the reader and the writer until stop ends; calls in flight then
// finish under callCtx.
func (d *driver) run(stop, callCtx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.writeLoop(stop, callCtx) })
	wg.Go(func() { d.readLoop(stop, callCtx) })
	wg.Wait()
}

func (d *driver) writeLoop(stop, callCtx context.Context) {
	for seq := 1; stop.Err() == nil; seq++ {
		next := time.Now().Add(d.every)
		name := d.name(seq)
		if _, err := d.save(callCtx, name, d.entities); err == nil {
			d.last.Store(&name)
		}
		select {
		case <-stop.Done():
		case <-time.After(time.Until(next)):
		}
	}
}

// save saves a scenario of n entities and records the outcome. It returns
// the call's latency, or an error if the save was not acknowledged.
func (d *driver) save(ctx context.Context, name string, n int) (time.Duration, error) {
	args := map[string]any{
		"name":        name,
		"description": "written by scripts/stress",
		"tags":        []string{"stress"},
		"entities":    makeEntities(n),
	}
	d.st.called(opSave)
	d.st.send(name, n)
	start := time.Now()
	res, err := d.srv.call(ctx, "healthsim_save_scenario", args)
	took := time.Since(start)
	if err = d.check(opSave, res, err); err != nil {
		return took, err
	}
	var out struct {
		TotalEntities int `json:"total_entities"`
	}
	if err := decode(res, &out); err != nil || out.TotalEntities != n {
		d.st.fail(opSave, errBadResult, fmt.Sprintf("%s: total_entities %d, want %d (%v)", name, out.TotalEntities, n, err))
		return took, errors.New(errBadResult)
	}
	d.st.ack(name, n, took)
	return took, nil
}

// check records a failed call and returns an error for it, or nil.
func (d *driver) check(op string, res *sdk.CallToolResult, err error) error {
	switch {
	case err != nil:
		d.st.fail(op, errProtocol, err.Error())
		return err
	case res.IsError:
		msg := text(res)
		d.st.fail(op, classify(msg), msg)
		return errors.New(msg)
	}
	return nil
}

func (d *driver) readLoop(stop, callCtx context.Context) {
	for i := 0; stop.Err() == nil; i++ {
		var last string
		if p := d.last.Load(); p != nil {
			last = *p
		}
		start := time.Now()
		switch i % 3 {
		case 0:
			d.st.called(opList)
			res, err := d.srv.call(callCtx, "healthsim_list_scenarios", map[string]any{"limit": 10})
			if d.check(opList, res, err) == nil {
				d.st.read(time.Since(start))
			}
		case 1:
			d.st.called(opQuery)
			res, err := d.srv.call(callCtx, "healthsim_query", map[string]any{
				"sql": "SELECT name, updated_at FROM scenarios WHERE name = '" + strings.ReplaceAll(last, "'", "''") + "'"})
			if d.check(opQuery, res, err) != nil {
				continue
			}
			var out struct {
				Rows [][]any `json:"rows"`
			}
			// The server acknowledged the save before this read began.
			if err := decode(res, &out); err != nil || (last != "" && len(out.Rows) != 1) {
				d.st.fail(opQuery, errStale, fmt.Sprintf("point query for %q: %d rows (%v)", last, len(out.Rows), err))
				continue
			}
			d.st.read(time.Since(start))
		case 2:
			if last == "" {
				continue
			}
			d.st.called(opSummary)
			res, err := d.srv.call(callCtx, "healthsim_get_summary", map[string]any{"scenario_id_or_name": last, "samples_per_type": 1})
			if d.check(opSummary, res, err) != nil {
				continue
			}
			var out struct {
				TotalEntities int `json:"total_entities"`
			}
			if err := decode(res, &out); err != nil || out.TotalEntities != d.entities {
				d.st.fail(opSummary, errBadResult, fmt.Sprintf("summary of %q: total_entities %d, want %d (%v)", last, out.TotalEntities, d.entities, err))
				continue
			}
			d.st.read(time.Since(start))
		}
	}
}

// makeEntities returns n entities: three quarters patients, a quarter
// encounters, with nested values and fields that have no column.
func makeEntities(n int) map[string]any {
	encounters := n / 4
	patients := n - encounters
	ps := make([]any, patients)
	for i := range ps {
		ps[i] = map[string]any{
			"id": fmt.Sprintf("p%05d", i), "mrn": fmt.Sprintf("MRN%06d", i),
			"given_name": "Ana", "family_name": fmt.Sprintf("Diaz-%d", i), "gender": "F",
			"birth_date": fmt.Sprintf("19%02d-%02d-%02d", 40+i%60, 1+i%12, 1+i%28),
			"address":    map[string]any{"city": "Springfield", "state": "IL", "lines": []any{"1 Main St"}},
			"risk":       rand.Float64(),
		}
	}
	es := make([]any, encounters)
	for i := range es {
		es[i] = map[string]any{
			"encounter_id": fmt.Sprintf("e%05d", i), "patient_id": fmt.Sprintf("p%05d", i%max(patients, 1)),
			"class_code": "AMB", "status": "finished", "admission_time": "2024-03-01T09:30:00Z",
		}
	}
	out := map[string]any{"patients": ps}
	if encounters > 0 {
		out["encounters"] = es
	}
	return out
}

// text is the text content of a result.
func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// decode decodes a result's structured content into out.
func decode(res *sdk.CallToolResult, out any) error {
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// expectedEntities reads the entity count a scenario name carries (its
// last word, "n20"), or -1.
func expectedEntities(name string) int {
	i := strings.LastIndex(name, " n")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(name[i+2:])
	if err != nil {
		return -1
	}
	return n
}

// runLoad starts cfg.processes servers, drives them for cfg.duration (or
// until ctx ends), stops them with SIGTERM and checks the file.
func runLoad(ctx context.Context, cfg config, progress io.Writer) (*summary, error) {
	prefix := fmt.Sprintf("stress-%08x ", rand.Uint32()) // this run's scenarios
	servers := make([]*server, cfg.processes)
	errs := make([]error, cfg.processes)
	var wg sync.WaitGroup
	for i := range servers { // started together: they migrate a new file at once
		wg.Go(func() {
			servers[i], errs[i] = startServer(ctx, cfg.binary, cfg.db,
				"--busy-timeout", cfg.busyTimeout.String(), "--query-timeout", cfg.queryTimeout.String(),
				fmt.Sprintf("--share=%t", cfg.share))
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, s := range servers {
			if s != nil {
				s.kill()
			}
		}
		return nil, err
	}

	drivers := make([]*driver, len(servers))
	for i, s := range servers {
		drivers[i] = &driver{srv: s, st: newStats(), entities: cfg.entities, every: cfg.saveEvery,
			name: func(seq int) string { return fmt.Sprintf("%sp%d s%06d n%d", prefix, i, seq, cfg.entities) }}
	}
	start := time.Now()
	stop, cancelStop := context.WithTimeout(ctx, cfg.duration)
	defer cancelStop()
	// A call still running at the end gets the busy and query timeouts and
	// some slack to finish; one that needs more is counted as failed.
	drain := cfg.busyTimeout + cfg.queryTimeout + 10*time.Second
	callCtx, cancelCalls := context.WithTimeout(context.WithoutCancel(ctx), cfg.duration+drain)
	defer cancelCalls()
	done, reported := make(chan struct{}), make(chan struct{})
	go func() {
		reportProgress(progress, drivers, start, stop, done)
		close(reported)
	}()
	for _, d := range drivers {
		wg.Go(func() { d.run(stop, callCtx) })
	}
	wg.Wait()
	close(done)
	<-reported // no progress line is written after runLoad returns
	elapsed := time.Since(start)

	var exits []string
	var mu sync.Mutex
	for _, s := range servers {
		wg.Go(func() {
			if err := s.terminate(); err != nil {
				mu.Lock()
				exits = append(exits, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	all := make([]*stats, len(drivers))
	for i, d := range drivers {
		all[i] = d.st
	}
	sum := &summary{cfg: cfg, elapsed: elapsed, interrupted: ctx.Err() != nil, st: merge(all...), serverErrs: exits}
	stored, err := readBack(context.WithoutCancel(ctx), cfg.db, prefix)
	if err != nil {
		return nil, fmt.Errorf("read the file back after the run: %w", err)
	}
	sum.check(stored)
	return sum, nil
}

// reportProgress prints a line every 5 s until done.
func reportProgress(w io.Writer, drivers []*driver, start time.Time, stop context.Context, done <-chan struct{}) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		calls, saves, errs := 0, 0, 0
		for _, d := range drivers {
			d.st.mu.Lock()
			for _, n := range d.st.calls {
				calls += n
			}
			saves += len(d.st.acked)
			d.st.mu.Unlock()
			errs += d.st.errorCount()
		}
		state := ""
		if stop.Err() != nil {
			state = " (draining)"
		}
		fmt.Fprintf(w, "stress: %s: %d calls, %d saves, %d errors%s\n",
			time.Since(start).Round(time.Second), calls, saves, errs, state)
	}
}
