package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/benchfile"
	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
)

// The bench binary runs itself again in one of two roles, chosen by
// roleEnv: "serve" runs one strategy's workload, "probe" opens the file
// from outside as a migration or a notebook would. Their configuration
// is JSON in configEnv; they talk to the parent over stdin and stdout.
const (
	roleEnv   = "HEALTHSIM_BENCH_ROLE"
	configEnv = "HEALTHSIM_BENCH_CONFIG"
)

// serveConfig is what the serving process runs.
type serveConfig struct {
	Strategy string        `json:"strategy"`
	Path     string        `json:"path"`
	Rows     int64         `json:"rows"`     // ids 1..Rows exist in t
	Phase    time.Duration `json:"phase"`    // length of each load phase
	Readers  []int         `json:"readers"`  // concurrent readers per read phase
	Trickle  time.Duration `json:"trickle"`  // pause between reads in the availability phase
	WriteIDs int64         `json:"write_id"` // first id inserted into log
}

// loadResult is the serving process's report on its load phases.
type loadResult struct {
	Reads        []readResult `json:"reads"`
	Writes       durations    `json:"writes"`
	WriteErrors  int          `json:"write_errors"`
	WriteReads   int          `json:"write_reads"` // reads done by the readers running beside the writer
	FirstErr     string       `json:"first_error,omitempty"`
	TrickleReads int          `json:"trickle_reads"`
	TrickleErrs  int          `json:"trickle_errors"`
	LastRead     time.Time    `json:"last_read"` // end of the last trickle read
	PeakRSSKB    int64        `json:"peak_rss_kb"`
}

type readResult struct {
	Readers int       `json:"readers"`
	Times   durations `json:"times"`
	Errors  int       `json:"errors"`
	Elapsed float64   `json:"elapsed_s"`
}

type durations []time.Duration

// runRole runs this process's role if it has one and reports whether it did.
func runRole() (bool, error) {
	switch os.Getenv(roleEnv) {
	case "":
		return false, nil
	case "serve":
		var cfg serveConfig
		if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cfg); err != nil {
			return true, err
		}
		return true, serve(context.Background(), cfg, os.Stdin, os.Stdout)
	case "probe":
		return true, probe(os.Getenv(configEnv), os.Stdin, os.Stdout)
	default:
		return true, fmt.Errorf("unknown role %q", os.Getenv(roleEnv))
	}
}

// serve opens the strategy, runs the read phases and the write phase,
// then serves a trickle of reads: it prints "trickle", reads until the
// parent sends a line, stops, prints nothing more until stdin closes and
// then prints its result as one JSON line, peak RSS included.
func serve(ctx context.Context, cfg serveConfig, stdin io.Reader, stdout io.Writer) error {
	s, err := openStrategy(ctx, cfg.Strategy, cfg.Path, maxInt(cfg.Readers))
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.Strategy, err)
	}
	defer s.close()
	var res loadResult
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if res.FirstErr == "" {
			res.FirstErr = err.Error()
		}
		mu.Unlock()
	}
	var seq atomic.Int64
	nextID := func() int64 { return 1 + (seq.Add(1)*7919)%cfg.Rows } // scattered ids
	if err := s.read(ctx, nextID()); err != nil {                    // warm up
		return fmt.Errorf("first read: %w", err)
	}

	// readLoop reads until stop closes, timing each read when times is set.
	readLoop := func(stop <-chan struct{}, times *durations, errs *int) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			err := s.read(ctx, nextID())
			d := time.Since(start)
			mu.Lock()
			if err != nil {
				*errs++
			} else if times != nil {
				*times = append(*times, d)
			}
			mu.Unlock()
			if err != nil {
				fail(err)
			}
		}
	}
	for _, n := range cfg.Readers {
		r := readResult{Readers: n}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		start := time.Now()
		for range n {
			wg.Go(func() { readLoop(stop, &r.Times, &r.Errors) })
		}
		time.Sleep(cfg.Phase)
		close(stop)
		wg.Wait()
		r.Elapsed = time.Since(start).Seconds()
		res.Reads = append(res.Reads, r)
	}

	// Writes, one after the other with a short pause, beside two readers.
	var readerTimes durations
	var readerErrs int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { readLoop(stop, &readerTimes, &readerErrs) })
	}
	for id, end := cfg.WriteIDs, time.Now().Add(cfg.Phase); time.Now().Before(end); id++ {
		start := time.Now()
		if err := s.write(ctx, id); err != nil {
			res.WriteErrors++
			fail(err)
		} else {
			res.Writes = append(res.Writes, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	res.WriteReads = len(readerTimes)

	// The trickle: one read every cfg.Trickle until the parent says stop.
	fmt.Fprintln(stdout, "trickle")
	lines := bufio.NewScanner(stdin)
	stopTrickle := make(chan struct{})
	go func() {
		lines.Scan()
		close(stopTrickle)
	}()
	ticker := time.NewTicker(cfg.Trickle)
	defer ticker.Stop()
trickle:
	for {
		if err := s.read(ctx, nextID()); err != nil {
			res.TrickleErrs++
			fail(err)
		} else {
			res.TrickleReads++
		}
		res.LastRead = time.Now()
		select {
		case <-stopTrickle:
			break trickle
		case <-ticker.C:
		}
	}
	fmt.Fprintln(stdout, "idle")
	io.Copy(io.Discard, stdin)                                 // idle, file still held as the strategy holds it, until stdin closes
	res.PeakRSSKB = procctl.Memory(os.Getpid(), "VmHWM") >> 10 // -1 stays -1
	return json.NewEncoder(stdout).Encode(res)
}

// attempt is one try of the probe to open the file.
type attempt struct {
	At       time.Time     `json:"at"`
	ReadOnly bool          `json:"ro"`
	OK       bool          `json:"ok"`
	Took     time.Duration `json:"took"`
}

// probe opens path read-write, then read-only, with plain duckdb-go (open,
// SELECT 1, close) every 50 ms until stdin closes, then prints the attempts.
func probe(path string, stdin io.Reader, stdout io.Writer) error {
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, stdin); close(done) }()
	var attempts []attempt
	try := func(readOnly bool) {
		start := time.Now()
		pool, err := benchfile.OpenPlain(path, readOnly)
		if err == nil {
			err = pool.Close()
		}
		attempts = append(attempts, attempt{At: start, ReadOnly: readOnly, OK: err == nil, Took: time.Since(start)})
	}
	for {
		try(false)
		try(true)
		select {
		case <-done:
			return json.NewEncoder(stdout).Encode(attempts)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func maxInt(xs []int) int {
	m := 1
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}

var errNoOutput = errors.New("process ended without output")
