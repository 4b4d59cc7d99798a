package latency_test

import (
	"testing"
	"time"

	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
)

func TestPercentile(t *testing.T) {
	ds := []time.Duration{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {99, 10}, {100, 10}, {10, 1}, {1, 1}} {
		if got := latency.Percentile(ds, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if ds[0] != 10 {
		t.Error("Percentile reordered its input")
	}
	if got := latency.Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}
