package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultProgressInterval is how long work runs before its first progress
// line, and how often the lines come after that.
const DefaultProgressInterval = time.Second

// Progress reports long work on stderr: nothing while the work takes less
// than the interval (a second by default), then one line per interval,
// such as "import-scenarios: 40/120 scenarios, 3s". Lines keep coming while
// nothing advances (a write window waiting for the file, say), so a person
// watching knows the program is alive. It is safe for concurrent use.
type Progress struct {
	w          io.Writer
	what, unit string
	total      int
	start      time.Time
	stop       chan struct{}
	stopped    chan struct{}
	once       sync.Once

	mu    sync.Mutex
	done  int
	note  string
	lines int
}

// StartProgress starts reporting work named what (the program's name) on
// w: total units of unit ("scenarios"), 0 if unknown. Call Stop when the
// work ends.
func StartProgress(w io.Writer, what string, total int, unit string) *Progress {
	return StartProgressEvery(w, what, total, unit, DefaultProgressInterval)
}

// StartProgressEvery is StartProgress with another interval.
func StartProgressEvery(w io.Writer, what string, total int, unit string, interval time.Duration) *Progress {
	p := &Progress{w: w, what: what, unit: unit, total: total, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop(interval)
	return p
}

func (p *Progress) loop(interval time.Duration) {
	defer close(p.stopped)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.print()
		}
	}
}

// Add counts n more units done.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	p.done += n
	p.mu.Unlock()
}

// Note sets what the work is doing now ("writing batch 3"), shown on the
// next lines; empty clears it.
func (p *Progress) Note(note string) {
	p.mu.Lock()
	p.note = note
	p.mu.Unlock()
}

func (p *Progress) print() {
	p.mu.Lock()
	defer p.mu.Unlock()
	count := fmt.Sprintf("%d %s", p.done, p.unit)
	if p.total > 0 {
		count = fmt.Sprintf("%d/%d %s", p.done, p.total, p.unit)
	}
	line := fmt.Sprintf("%s: %s, %s", p.what, count, time.Since(p.start).Round(time.Second))
	if p.note != "" {
		line += " (" + p.note + ")"
	}
	fmt.Fprintln(p.w, line)
	p.lines++
}

// Stop ends the progress lines and returns how long the work took. It is
// safe to call more than once.
func (p *Progress) Stop() time.Duration {
	p.once.Do(func() { close(p.stop) })
	<-p.stopped
	return time.Since(p.start)
}

// Lines returns how many progress lines were printed.
func (p *Progress) Lines() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines
}

// Elapsed formats a duration for a summary line: milliseconds below a
// second, else to a tenth of a second.
func Elapsed(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Plural formats n with a noun, adding "s" unless n is 1 ("1 scenario",
// "3 scenarios"); nouns ending in "y" after a consonant take "ies".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if l := len(noun); l > 1 && noun[l-1] == 'y' && !isVowel(noun[l-2]) {
		return fmt.Sprintf("%d %sies", n, noun[:l-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isVowel(b byte) bool {
	switch b {
	case 'a', 'e', 'i', 'o', 'u':
		return true
	}
	return false
}
