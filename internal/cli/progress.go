package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// DefaultProgressInterval is how long work runs before progress is first
// shown, and how often it is shown after that.
const DefaultProgressInterval = time.Second

// Progress shows long work on stderr as a progress bar
// (github.com/schollz/progressbar), such as "import-scenarios (write window
// 2)  30% |███       | (40/120, 12 scenarios/s) [3s]": nothing while the
// work takes less than the interval (a second by default), then once per
// interval, also while nothing advances (a write window waiting for the
// file, say), so a person watching knows the program is alive. Stop clears
// it. It is safe for concurrent use.
type Progress struct {
	bar     *progressbar.ProgressBar
	what    string
	start   time.Time
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once

	mu    sync.Mutex
	done  int64
	note  string
	shown string // the description the bar shows
}

// StartProgress starts showing work named what (the program's name) on w:
// total units of unit ("scenarios"), 0 if unknown. Call Stop when the work
// ends.
func StartProgress(w io.Writer, what string, total int, unit string) *Progress {
	return StartProgressEvery(w, what, total, unit, DefaultProgressInterval)
}

// StartProgressEvery is StartProgress with another interval.
func StartProgressEvery(w io.Writer, what string, total int, unit string, interval time.Duration) *Progress {
	max := int64(total)
	if total <= 0 {
		max = -1 // unknown
	}
	p := &Progress{what: what, shown: what, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	p.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetRenderBlankState(false),
		progressbar.OptionSetSpinnerChangeInterval(0), // no goroutine of its own
		progressbar.OptionClearOnFinish())
	go p.show(interval)
	return p
}

// show draws the bar every interval until Stop: it is the only place that
// draws, so that short work shows nothing.
func (p *Progress) show(interval time.Duration) {
	defer close(p.stopped)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			p.mu.Lock()
			done, desc := p.done, p.what
			if p.note != "" {
				desc += " (" + p.note + ")"
			}
			changed := desc != p.shown
			p.shown = desc
			p.mu.Unlock()
			if changed {
				p.bar.Describe(desc)
			}
			_ = p.bar.Set64(done)
		}
	}
}

// Add counts n more units done.
func (p *Progress) Add(n int) {
	p.mu.Lock()
	p.done += int64(n)
	p.mu.Unlock()
}

// Note sets what the work is doing now ("writing batch 3"), shown after
// the program's name; empty clears it.
func (p *Progress) Note(note string) {
	p.mu.Lock()
	p.note = note
	p.mu.Unlock()
}

// Stop ends the display, clearing the bar, and returns how long the work
// took. It is safe to call more than once.
func (p *Progress) Stop() time.Duration {
	p.once.Do(func() {
		close(p.stop)
		<-p.stopped
		_ = p.bar.Clear()
		_ = p.bar.Exit()
	})
	return time.Since(p.start)
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
