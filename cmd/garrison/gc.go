package main

import (
	"log/slog"
	"runtime/debug"
)

// A node's state lives in bbolt's memory map, outside the Go heap, so the
// heap is small and most of what a busy node allocates is short-lived
// request garbage. Collecting at 4× the live heap rather than 2× halved the
// collector's share of the client's service list under 16 clients
// (docs/benchmarks.md: 2,380 -> 3,156 lists/s), and a soft limit of
// 768 MiB keeps a node within its 1 GiB budget whatever the heap does.
const (
	nodeGCPercent   = 400
	nodeMemoryLimit = 768 << 20
)

// gcSettings are the collector settings a node applies: the defaults above,
// except where GOGC or GOMEMLIMIT are set (then the runtime already took
// them, and -1 says to leave it alone).
func gcSettings(getenv func(string) string) (gcPercent int, memoryLimit int64) {
	gcPercent, memoryLimit = nodeGCPercent, nodeMemoryLimit
	if getenv("GOGC") != "" {
		gcPercent = -1
	}
	if getenv("GOMEMLIMIT") != "" {
		memoryLimit = -1
	}
	return gcPercent, memoryLimit
}

// tuneGC applies gcSettings and says so.
func tuneGC(getenv func(string) string, log *slog.Logger) {
	pct, limit := gcSettings(getenv)
	if pct >= 0 {
		debug.SetGCPercent(pct)
	}
	if limit >= 0 {
		debug.SetMemoryLimit(limit)
	}
	log.Debug("garbage collector", "gcPercent", pct, "memoryLimitBytes", limit, "note", "-1: left to GOGC / GOMEMLIMIT")
}
