package main

import (
	"testing"

	"github.com/healthsim/healthsim-go/cmd/healthsim/internal/share"
	"github.com/healthsim/healthsim-go/internal/benchsupport/latency"
	"github.com/healthsim/healthsim-go/internal/benchsupport/procctl"
)

// BenchmarkSharedReadCall times the pk point query through
// healthsim_query on the 1.1 GB file from two clients of one shared
// server, alternating: the owner's own client (direct) and the client of a
// second `healthsim serve --share`, which bridges to the owner. It reports
// both p50s, what the bridge adds, and the RSS of both processes (and the
// bridge's private part: the rest of its RSS is pages of the binary, shared
// with every process that runs it), and that of a third server serving
// alone (--no-share) after as many calls.
func BenchmarkSharedReadCall(b *testing.B) {
	d := benchDatabase(b, largeMB)
	query := pointQueries[1].sql(d)
	ownerSession, ownerCmd := startServerCmd(b, d.path, "--share")
	if rec, owned := share.Owned(d.path); !owned || rec.PID != ownerCmd.Process.Pid {
		b.Fatalf("the first server does not own the file: %+v", rec)
	}
	bridgeSession, bridgeCmd := startServerCmd(b, d.path, "--share")
	directTimes, bridgedTimes := alternate(b, queryCall(b, ownerSession, query), queryCall(b, bridgeSession, query))
	p50d, p50b := latency.Percentile(directTimes, 50), latency.Percentile(bridgedTimes, 50)
	b.ReportMetric(micros(p50d), "direct-p50-µs")
	b.ReportMetric(micros(p50b), "bridged-p50-µs")
	b.ReportMetric(micros(p50b-p50d), "bridge-adds-p50-µs")
	b.ReportMetric(micros(latency.Percentile(directTimes, 99)), "direct-p99-µs")
	b.ReportMetric(micros(latency.Percentile(bridgedTimes, 99)), "bridged-p99-µs")
	// A server alone (--no-share) on the same file, after as many calls,
	// for its RSS against the owner's.
	loneSession, loneCmd := startServerCmd(b, d.path, "--no-share")
	lone := queryCall(b, loneSession, query)
	for range warmUp + len(directTimes) {
		if err := lone(); err != nil {
			b.Fatal(err)
		}
	}
	mb := func(pid int, field string) float64 { return float64(procctl.Memory(pid, field)) / (1 << 20) }
	b.ReportMetric(mb(loneCmd.Process.Pid, "VmRSS"), "alone-rss-MB")
	b.ReportMetric(mb(ownerCmd.Process.Pid, "VmRSS"), "owner-rss-MB")
	b.ReportMetric(mb(bridgeCmd.Process.Pid, "VmRSS"), "bridge-rss-MB")
	b.ReportMetric(mb(bridgeCmd.Process.Pid, "RssAnon"), "bridge-private-MB")
	b.Logf("bridge RSS %.1f MB, of which %.1f MB private and %.1f MB pages of the binary",
		mb(bridgeCmd.Process.Pid, "VmRSS"), mb(bridgeCmd.Process.Pid, "RssAnon"), mb(bridgeCmd.Process.Pid, "RssFile"))
}
