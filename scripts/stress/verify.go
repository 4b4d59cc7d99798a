package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
)

// stored is what the file holds of one scenario.
type stored struct {
	entities int // scenario_entities rows
	rows     int // rows in the canonical tables (patients, encounters)
}

// readBack reads, in this process, every scenario whose name starts with
// prefix. Call it only after the servers have exited: it is a fresh open
// of the file, which must work after any crash.
func readBack(ctx context.Context, path, prefix string) (map[string]stored, error) {
	db, err := dbx.OpenReadOnly(path, dbx.WithBusyTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT s.name,
			(SELECT count(*) FROM scenario_entities e WHERE e.scenario_id = s.id),
			(SELECT count(*) FROM patients p WHERE p.scenario_id = s.id) + (SELECT count(*) FROM encounters x WHERE x.scenario_id = s.id)
		FROM scenarios s WHERE starts_with(s.name, ?)`, prefix)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]stored{}
	for rows.Next() {
		var name string
		var s stored
		if err := rows.Scan(&name, &s.entities, &s.rows); err != nil {
			return nil, err
		}
		out[name] = s
	}
	return out, rows.Err()
}

// summary is the outcome of a run.
type summary struct {
	cfg         config
	elapsed     time.Duration
	interrupted bool
	st          *stats
	serverErrs  []string // servers that did not stop cleanly

	found      int      // scenarios of this run in the file
	whole      int      // ... with every entity and row
	unacked    int      // whole but never acknowledged (the client gave up or the server died first)
	lost       []string // acknowledged but missing or incomplete
	torn       []string // in the file but incomplete (acknowledged or not)
	unexpected []string // in the file but never sent
}

// check compares what the clients saw with what the file holds.
func (s *summary) check(file map[string]stored) {
	s.found = len(file)
	for name, got := range file {
		want, sent := s.st.sent[name]
		switch {
		case !sent:
			s.unexpected = append(s.unexpected, name)
		case got.entities != want || got.rows != want:
			s.torn = append(s.torn, fmt.Sprintf("%s: %d entities, %d rows, want %d", name, got.entities, got.rows, want))
		default:
			s.whole++
			if _, ok := s.st.acked[name]; !ok {
				s.unacked++
			}
		}
	}
	for name, want := range s.st.acked {
		got, ok := file[name]
		switch {
		case !ok:
			s.lost = append(s.lost, name+": missing")
		case got.entities != want || got.rows != want:
			s.lost = append(s.lost, fmt.Sprintf("%s: incomplete (%d entities, %d rows, want %d)", name, got.entities, got.rows, want))
		}
	}
	slices.Sort(s.lost)
	slices.Sort(s.torn)
	slices.Sort(s.unexpected)
}

// errors returns the number of failed calls.
func (s *summary) errors() int { return s.st.errorCount() }

// ok reports whether every call succeeded, every server stopped cleanly
// and the file holds every acknowledged save whole.
func (s *summary) ok() bool {
	return s.errors() == 0 && len(s.serverErrs) == 0 && len(s.lost) == 0 && len(s.torn) == 0 && len(s.unexpected) == 0
}

func (s *summary) print(w io.Writer) {
	st := s.st
	calls := 0
	for _, n := range st.calls {
		calls += n
	}
	fmt.Fprintf(w, "healthsim stress: %d servers on one file, %s, a save of %d entities every %s per server\n",
		s.cfg.processes, s.cfg.duration, s.cfg.entities, s.cfg.saveEvery)
	if s.interrupted {
		fmt.Fprintf(w, "  interrupted after %s\n", s.elapsed.Round(time.Millisecond))
	}
	fmt.Fprintf(w, "  operations    %d calls: %d list, %d query, %d summary, %d save\n",
		calls, st.calls[opList], st.calls[opQuery], st.calls[opSummary], st.calls[opSave])
	reads := st.readTimes
	fmt.Fprintf(w, "  reads         %d in %s: %.0f/s; latency p50 %s, p99 %s, max %s\n", len(reads), s.elapsed.Round(time.Millisecond),
		float64(len(reads))/s.elapsed.Seconds(), round(latency.Percentile(reads, 50)), round(latency.Percentile(reads, 99)), round(latency.Percentile(reads, 100)))
	lock, proto := st.errs[errLock], st.errs[errProtocol]
	fmt.Fprintf(w, "  errors        %d (lock %d, protocol %d, other %d)\n", s.errors(), lock, proto, s.errors()-lock-proto)
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range st.errs {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range kinds {
		fmt.Fprintf(w, "    %-40s %6d  e.g. %s\n", k, st.errs[k], clip(st.examples[k], 240))
	}
	saves := st.saveTimes
	fmt.Fprintf(w, "  saves         %d acknowledged of %d sent; latency p50 %s, p99 %s, max %s\n",
		len(st.acked), len(st.sent), round(latency.Percentile(saves, 50)), round(latency.Percentile(saves, 99)), round(latency.Percentile(saves, 100)))
	fmt.Fprintf(w, "  file          %d scenarios of this run: %d whole (%d of them unacknowledged), %d incomplete, %d never sent\n",
		s.found, s.whole, s.unacked, len(s.torn), len(s.unexpected))
	fmt.Fprintf(w, "  lost writes   %d\n", len(s.lost))
	for _, list := range [][]string{s.lost, s.torn, s.unexpected} {
		for i, l := range list {
			if i == 10 {
				fmt.Fprintf(w, "    ... and %d more\n", len(list)-10)
				break
			}
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	fmt.Fprintf(w, "  servers       %d of %d stopped cleanly\n", s.cfg.processes-len(s.serverErrs), s.cfg.processes)
	for _, e := range s.serverErrs {
		fmt.Fprintf(w, "    %s\n", clip(e, 2000))
	}
	if s.ok() {
		fmt.Fprintln(w, "  result        OK")
	} else {
		fmt.Fprintln(w, "  result        FAILED")
	}
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// clip shortens s to n bytes on one line.
func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
