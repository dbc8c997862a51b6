package main

import "testing"

// The node's collector defaults apply unless the environment sets its own.
func TestGCSettings(t *testing.T) {
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	if pct, limit := gcSettings(env(nil)); pct != nodeGCPercent || limit != nodeMemoryLimit {
		t.Fatalf("defaults: %d %d", pct, limit)
	}
	if pct, limit := gcSettings(env(map[string]string{"GOGC": "100", "GOMEMLIMIT": "2GiB"})); pct != -1 || limit != -1 {
		t.Fatalf("the environment's: %d %d", pct, limit)
	}
}
