package main

import (
	"fmt"
	"image/color"
	"slices"
	"strings"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// result is one strategy on one file.
type result struct {
	Strategy    string
	SizeMB      int
	FileBytes   int64 // on disk, before the run
	Reads       []readSummary
	WriteP50    time.Duration
	WriteP99    time.Duration
	Writes      int
	WriteErrors int
	ReadErrors  int // errors of the serving process's reads, in every phase

	// The probe, during the trickle of reads (up to the last read) and after it.
	RWTrickle, ROTrickle float64       // share of successful opens during the trickle
	RWIdle               float64       // share of successful read-write opens after the last read
	RWAfter              time.Duration // from the last read to the first read-write open that succeeded; -1: never
	Availability         float64       // share of all opens, both modes, trickle and idle, that succeeded
	PeakRSSMB            float64
}

type readSummary struct {
	Readers  int
	P50, P99 time.Duration
	PerSec   float64
}

func summarize(strategy string, load loadResult, attempts []attempt, idle time.Duration) result {
	r := result{Strategy: strategy, RWAfter: -1, Writes: len(load.Writes), WriteErrors: load.WriteErrors,
		WriteP50: latency.Percentile(load.Writes, 50), WriteP99: latency.Percentile(load.Writes, 99),
		ReadErrors: load.TrickleErrs, PeakRSSMB: float64(load.PeakRSSKB) / 1024}
	for _, rr := range load.Reads {
		r.Reads = append(r.Reads, readSummary{Readers: rr.Readers, P50: latency.Percentile(rr.Times, 50),
			P99: latency.Percentile(rr.Times, 99), PerSec: float64(len(rr.Times)) / rr.Elapsed})
		r.ReadErrors += rr.Errors
	}
	var rwT, roT, rwI, all share
	for _, a := range attempts {
		all.add(a.OK)
		switch {
		case !a.At.After(load.LastRead) && a.ReadOnly:
			roT.add(a.OK)
		case !a.At.After(load.LastRead):
			rwT.add(a.OK)
		case !a.ReadOnly:
			rwI.add(a.OK)
			if a.OK && r.RWAfter < 0 {
				r.RWAfter = a.At.Add(a.Took).Sub(load.LastRead)
			}
		}
	}
	r.RWTrickle, r.ROTrickle, r.RWIdle, r.Availability = rwT.rate(), roT.rate(), rwI.rate(), all.rate()
	return r
}

type share struct{ ok, n int }

func (s *share) add(ok bool) {
	s.n++
	if ok {
		s.ok++
	}
}

func (s share) rate() float64 {
	if s.n == 0 {
		return 0
	}
	return float64(s.ok) / float64(s.n)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func pct(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) }

// table renders the results as Markdown, one row per strategy and size.
func table(results []result, c config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Phases of %v, read trickle every %v, idle tail %v.\n\n", c.phase, c.trickle, c.idle)
	b.WriteString("| file | strategy |")
	for _, n := range c.readers {
		fmt.Fprintf(&b, " read p50 / p99 ms, %d reader(s) | reads/s, %d |", n, n)
	}
	b.WriteString(" write p50 / p99 ms (n) | others open RW / RO during reads | RW open after last read | availability | peak RSS MB | errors |\n|---|---|")
	b.WriteString(strings.Repeat("---|---|", len(c.readers)))
	b.WriteString("---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d MB (%.0f MB on disk) | %s |", r.SizeMB, float64(r.FileBytes)/1e6, strategyLabels[r.Strategy])
		for _, rs := range r.Reads {
			fmt.Fprintf(&b, " %s / %s | %.0f |", ms(rs.P50), ms(rs.P99), rs.PerSec)
		}
		after := "never"
		if r.RWAfter >= 0 {
			after = fmt.Sprintf("%.2f s", r.RWAfter.Seconds())
		}
		fmt.Fprintf(&b, " %s / %s (%d) | %s / %s | %s | %s | %.0f | %d |\n",
			ms(r.WriteP50), ms(r.WriteP99), r.Writes, pct(r.RWTrickle), pct(r.ROTrickle),
			after, pct(r.Availability), r.PeakRSSMB, r.ReadErrors+r.WriteErrors)
	}
	return b.String()
}

// chart plots each strategy's single-reader read p50 against its
// availability to other processes, one series per file size.
func chart(results []result, path string) error {
	p := plot.New()
	p.Title.Text = "Read latency against availability to other processes"
	p.X.Label.Text = "point read p50, 1 reader (ms, log scale)"
	p.Y.Label.Text = "other processes' opens that succeeded (%)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = -5, 105
	p.Legend.Left = false // bottom right: no strategy sits there
	p.Add(plotter.NewGrid())
	var sizes []int
	for _, r := range results {
		if !slices.Contains(sizes, r.SizeMB) {
			sizes = append(sizes, r.SizeMB)
		}
	}
	lo, hi := 1e9, 0.0
	for _, r := range results {
		if len(r.Reads) > 0 {
			x := max(0.001, float64(r.Reads[0].P50.Microseconds())/1000)
			lo, hi = min(lo, x), max(hi, x)
		}
	}
	if hi > 0 { // a log axis needs a positive range, wider than one point
		p.X.Min, p.X.Max = lo/2, hi*3
	}
	shapes := []draw.GlyphDrawer{draw.CircleGlyph{}, draw.TriangleGlyph{}, draw.SquareGlyph{}, draw.CrossGlyph{}}
	for i, size := range sizes {
		var xys plotter.XYs
		var labels []string
		for _, r := range results {
			if r.SizeMB != size || len(r.Reads) == 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: max(0.001, float64(r.Reads[0].P50.Microseconds())/1000), Y: 100 * r.Availability})
			labels = append(labels, "  "+strategyLabels[r.Strategy])
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.GlyphStyle.Shape = shapes[i%len(shapes)]
		s.GlyphStyle.Color = plotutil.Color(i)
		s.GlyphStyle.Radius = vg.Points(4)
		l, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: labels})
		if err != nil {
			return err
		}
		for j := range l.TextStyle {
			l.TextStyle[j].Color = color.Gray{Y: 60}
			l.TextStyle[j].YAlign = draw.YCenter
		}
		p.Add(s)
		if i == 0 { // the sizes' points lie close together: name the strategies once
			p.Add(l)
		}
		p.Legend.Add(fmt.Sprintf("%d MB file", size), s)
	}
	if hi > 0 {
		p.X.Min, p.X.Max = lo/2, hi*3 // Add widened the range to the points' own
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}
