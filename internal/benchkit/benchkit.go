// Package benchkit holds what Garrison's benchmarks share: a runner that
// spreads b.N operations over concurrent workers and records each one's
// latency, percentile reporting, and a bridge that lets a benchmark use test
// helpers which set up clusters inside a *testing.T.
package benchkit

import (
	"flag"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Result is what Run measured.
type Result struct {
	Lat     []time.Duration // latencies of the successful operations
	Elapsed time.Duration
	Failed  int64
	Err     error // the first failure
}

// Run calls op b.N times (k = 0..b.N-1) from workers goroutines sharing one
// counter. op returns its own latency, so preparing its input is not
// counted. The timer runs only around the operations.
func Run(b *testing.B, workers int, op func(k int64) (time.Duration, error)) Result {
	var next, failed atomic.Int64
	var firstErr atomic.Value
	lats := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, b.N/workers+1)
			for {
				k := next.Add(1) - 1
				if k >= int64(b.N) {
					break
				}
				d, err := op(k)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				mine = append(mine, d)
			}
			lats[w] = mine
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	res := Result{Lat: slices.Concat(lats...), Elapsed: elapsed, Failed: failed.Load()}
	if err, ok := firstErr.Load().(error); ok {
		res.Err = err
	}
	return res
}

// Report adds the rate (in rateUnit, e.g. "writes/s") and p50/p99 latency
// in milliseconds to the benchmark's output.
func (r Result) Report(b *testing.B, rateUnit string) {
	if len(r.Lat) == 0 || r.Elapsed <= 0 {
		return
	}
	slices.Sort(r.Lat)
	b.ReportMetric(float64(len(r.Lat))/r.Elapsed.Seconds(), rateUnit)
	b.ReportMetric(Millis(Percentile(r.Lat, 50)), "p50-ms")
	b.ReportMetric(Millis(Percentile(r.Lat, 99)), "p99-ms")
}

// Percentile is the p-th percentile of sorted durations (nearest rank);
// zero for none.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max((len(sorted)*p+99)/100, 1)-1]
}

// Millis is d in milliseconds.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// AsTest runs f with a real *testing.T, for test helpers that build
// clusters with t.Cleanup: a benchmark's own cleanups run after every b.N
// sizing round, which would tear the cluster down between rounds. f runs
// once even with -count > 1, on its own goroutine: it may call b.Run,
// b.ReportMetric and the timer methods, not b.Fatal. A failure of f
// (reported in the test output) fails b.
func AsTest(b *testing.B, f func(t *testing.T)) {
	b.Helper()
	if s := flag.Lookup("test.skip"); s != nil && s.Value.String() != "" {
		b.Skip("these benchmarks set up their cluster in a test, which -skip would skip")
	}
	procs := runtime.GOMAXPROCS(0)
	ran := false
	ok := testing.RunTests(func(string, string) (bool, error) { return true, nil }, []testing.InternalTest{{
		Name: b.Name(),
		F: func(t *testing.T) {
			if ran {
				return // -count > 1: RunTests repeats the test
			}
			ran = true
			runtime.GOMAXPROCS(procs)
			f(t)
		},
	}})
	runtime.GOMAXPROCS(procs)
	if !ok || !ran {
		b.Fatal("benchmark setup test failed")
	}
}
