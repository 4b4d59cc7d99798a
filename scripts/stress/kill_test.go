package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/dbx"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
)

// holdsIntent reports whether process pid holds the dbx write intent of
// the database at db, as `healthsim locks` tells it.
func holdsIntent(db string, pid int) bool {
	holder, _, held := dbx.IntentHolder(db)
	return held && holder == pid
}

// waitHolding waits up to timeout until pid holds the write intent (and
// has written its PID into the sidecar, as dbx does right after taking
// it), or until done is closed.
func waitHolding(db string, pid int, timeout time.Duration, done <-chan struct{}) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if holdsIntent(db, pid) {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(200 * time.Microsecond):
		}
	}
	return false
}

// TestKillNineDuringWrites: a server is killed with SIGKILL in the middle
// of a save of 2,000 entities, 50 times, and restarted each time, while two
// other servers read without pause and save every 100 ms. The file always
// opens again, every scenario in it is whole or absent, the other servers'
// clients see no error, and a server killed while it holds the sidecar's
// write intent never holds the others up.
func TestKillNineDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("50 kills")
	}
	const (
		kills       = 50
		bigSave     = 2000
		busyTimeout = 5 * time.Second
	)
	bin := healthsimBinary(t)
	db := filepath.Join(t.TempDir(), "kill.duckdb")
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	// The two servers that carry on.
	var others []*driver
	for i := range 2 {
		s, err := startServer(ctx, bin, db, "--busy-timeout", busyTimeout.String())
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, &driver{srv: s, st: newStats(), entities: 20, every: 100 * time.Millisecond,
			name: func(seq int) string { return fmt.Sprintf("other p%d s%06d n20", i, seq) }})
	}
	stop, cancelStop := context.WithCancel(ctx)
	defer cancelStop()
	callCtx, cancelCalls := context.WithTimeout(ctx, 10*time.Minute)
	defer cancelCalls()
	var load sync.WaitGroup
	for _, d := range others {
		load.Go(func() { d.run(stop, callCtx) })
	}

	victims := newStats() // what was sent to the killed servers; their errors are expected
	var killedHolding int
	var calibration time.Duration
	start := time.Now()
	for k := range kills {
		v, err := startServer(ctx, bin, db, "--busy-timeout", busyTimeout.String())
		if err != nil {
			t.Fatalf("restart %d after a SIGKILL: %v", k, err)
		}
		vd := &driver{srv: v, st: victims, entities: bigSave}
		if res, err := v.call(ctx, "healthsim_list_scenarios", map[string]any{"limit": 1}); err != nil || res.IsError {
			t.Fatalf("restart %d: the new server cannot read: %v", k, err)
		}
		if k == 0 { // how long a whole save takes here, for the log
			took, err := vd.save(ctx, fmt.Sprintf("victim calibration n%d", bigSave), bigSave)
			if err != nil {
				t.Fatalf("calibration save: %v", err)
			}
			calibration = took
		}
		pid := v.PID()
		saved := make(chan struct{})
		go func() {
			defer close(saved)
			vd.save(callCtx, fmt.Sprintf("victim k%02d n%d", k, bigSave), bigSave)
		}()
		if k%2 == 0 {
			// Anywhere around the write: before it, in the window, after.
			time.Sleep(time.Duration(rng.Int64N(int64(40 * time.Millisecond))))
		} else if waitHolding(db, pid, 10*time.Second, saved) {
			// Inside the window: attaching, inserting, committing, checkpointing.
			time.Sleep(time.Duration(rng.Int64N(int64(10 * time.Millisecond))))
		}
		holding := holdsIntent(db, pid)
		v.kill()
		<-saved
		if holding {
			killedHolding++
		}
		// The lock dies with its process. The sidecar may still name the
		// dead server for the instant between another server taking the
		// intent and writing its own PID there; a lock the dead server
		// kept would name it for good.
		for deadline := time.Now().Add(5 * time.Second); holdsIntent(db, pid); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the dead server %d still holds the write intent", k, pid)
			}
		}
		if n := others[0].st.errorCount() + others[1].st.errorCount(); n > 0 {
			break // reported below
		}
	}
	killPhase := time.Since(start)
	cancelStop()
	load.Wait()
	for _, d := range others {
		if err := d.srv.terminate(); err != nil {
			t.Error(err)
		}
	}

	// The file opens in a fresh process state, and holds every scenario
	// whole or not at all.
	stored, err := readBack(ctx, db, "")
	if err != nil {
		t.Fatalf("the file does not open after %d kills: %v", kills, err)
	}
	victimsLanded := 0
	for name, got := range stored {
		want := expectedEntities(name)
		if got.entities != want || got.rows != want {
			t.Errorf("%s: %d entities, %d rows; want all %d or none", name, got.entities, got.rows, want)
		}
		if strings.HasPrefix(name, "victim k") {
			victimsLanded++
		}
	}
	for name := range victims.acked {
		if _, ok := stored[name]; !ok {
			t.Errorf("%s was acknowledged but is missing", name)
		}
	}

	st := merge(others[0].st, others[1].st)
	for kind, n := range st.errs {
		t.Errorf("the other servers' clients saw %d errors of kind %q, e.g. %s", n, kind, st.examples[kind])
	}
	for name := range st.acked {
		if _, ok := stored[name]; !ok {
			t.Errorf("%s was acknowledged but is missing", name)
		}
	}
	saves := st.saveTimes
	t.Logf("%d kills in %s (a whole %d-entity save takes %s here): %d while holding the write intent; %d of the killed saves landed whole, the rest left nothing",
		kills, killPhase.Round(time.Millisecond), bigSave, calibration.Round(time.Millisecond), killedHolding, victimsLanded)
	reads := st.readTimes
	t.Logf("meanwhile the other two servers: %d saves (p50 %s, p99 %s, max %s), %d reads (p50 %s, p99 %s, max %s), %d errors",
		len(saves), latency.Percentile(saves, 50), latency.Percentile(saves, 99), latency.Percentile(saves, 100),
		len(reads), latency.Percentile(reads, 50), latency.Percentile(reads, 99), latency.Percentile(reads, 100), st.errorCount())
	if len(saves) < 10 || st.reads() < 10 {
		t.Errorf("the other servers made little progress: %d saves, %d reads", len(saves), st.reads())
	}
	// A killed holder of the intent releases it at once (checked after each
	// kill above): no save of the others waited as long as the busy timeout.
	if worst := latency.Percentile(saves, 100); worst >= busyTimeout {
		t.Errorf("the slowest save of the other servers took %s (busy timeout %s)", worst, busyTimeout)
	}
	if killedHolding < kills/4 {
		t.Errorf("only %d of %d kills hit a server holding the write intent", killedHolding, kills)
	}
}
