// Package chaos checks the histories the fault harness (e2e/chaos_test.go)
// records: clients write and read registers (one per key) through the
// cluster while faults strike, and the history must be linearizable
// (github.com/anishathalye/porcupine, one register per key), with no write
// lost, applied twice or read stale. The checks name what they find.
//
// A register is either a field of an entity that lives through the whole
// run, or a whole entity that is created, changed and deleted: its value
// is then 0 before it exists, the field's value while it does, and a
// negative value once a delete wrote it, so a read that finds no entity
// fits both "not yet" and "deleted".
package chaos

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Kind of an operation.
type Kind string

// Operation kinds.
const (
	Write Kind = "write"
	Read  Kind = "read"
)

// Op is one client operation on a register.
type Op struct {
	Client int    `json:"client"`
	Key    string `json:"key"`
	Kind   Kind   `json:"kind"`
	// Value is what a write wrote (unique per write, never 0; negative for
	// a delete) or what a read returned (0: the register's initial value,
	// or no entity, which also fits a delete).
	Value int64 `json:"value"`
	// Call and Return bound the operation; a write whose outcome never
	// became known has Unknown set, and may take effect any time after
	// Call.
	Call    time.Time `json:"call"`
	Return  time.Time `json:"return"`
	Unknown bool      `json:"unknown,omitempty"`
	// Final marks a read made once the cluster was quiet and healed.
	Final bool `json:"final,omitempty"`
	// Node names where the read was served (for reports).
	Node string `json:"node,omitempty"`
	// Action says what the client sent, such as "PATCH /identities", for
	// reports and replays; the checks ignore it.
	Action string `json:"action,omitempty"`
}

// Anomaly is one thing the history shows went wrong.
type Anomaly struct {
	// Kind: non-linearizable, lost-write, duplicate-write or stale-read
	// here; the harness adds its own, such as diverged.
	Kind   string `json:"kind"`
	Key    string `json:"key"`
	Detail string `json:"detail"`
}

// Report is the verdict on a history.
type Report struct {
	Ops       int       `json:"ops"`
	Keys      int       `json:"keys"`
	Unknown   int       `json:"unknownWrites"`
	Anomalies []Anomaly `json:"anomalies"`
}

type regInput struct {
	write bool
	value int64
}

// registerModel is a register per key, initially 0; a read of 0 (no
// entity) also fits a deleted one (a negative value).
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Metadata.(string)
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.write {
			return true, in.value
		}
		out, st := output.(int64), state.(int64)
		if out == 0 {
			return st <= 0, state
		}
		return out == st, state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.write {
			return fmt.Sprintf("write(%d)", in.value)
		}
		return fmt.Sprintf("read() → %d", output.(int64))
	},
}

// Check judges a history: porcupine per key, then the named anomalies.
func Check(history []Op, timeout time.Duration) Report {
	rep := Report{Ops: len(history)}
	byKey := map[string][]Op{}
	for _, op := range history {
		byKey[op.Key] = append(byKey[op.Key], op)
		if op.Kind == Write && op.Unknown {
			rep.Unknown++
		}
	}
	rep.Keys = len(byKey)
	switch porcupine.CheckOperationsTimeout(registerModel, toPorcupine(history), timeout) {
	case porcupine.Illegal:
		// Name the keys: each is checked on its own.
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if porcupine.CheckOperationsTimeout(registerModel, toPorcupine(byKey[k]), timeout) == porcupine.Illegal {
				rep.Anomalies = append(rep.Anomalies, Anomaly{Kind: "non-linearizable", Key: k,
					Detail: "no order of this key's operations fits a register"})
			}
		}
	case porcupine.Unknown:
		rep.Anomalies = append(rep.Anomalies, Anomaly{Kind: "check-timeout",
			Detail: fmt.Sprintf("the linearizability check did not finish within %s", timeout)})
	}
	rep.Anomalies = append(rep.Anomalies, named(history)...)
	return rep
}

// toPorcupine converts ops; a write of unknown outcome may take effect at
// any time after its call.
func toPorcupine(history []Op) []porcupine.Operation {
	ops := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		ret := op.Return.UnixNano()
		if op.Kind == Write && op.Unknown {
			ret = math.MaxInt64
		}
		var out any = int64(0)
		if op.Kind == Read {
			out = op.Value
		}
		ops = append(ops, porcupine.Operation{ClientId: op.Client, Input: regInput{write: op.Kind == Write, value: op.Value},
			Call: op.Call.UnixNano(), Output: out, Return: ret, Metadata: op.Key})
	}
	return ops
}

// named looks for the anomalies a register history can show, by name:
//   - stale-read: a read that began after a write was acknowledged returns
//     a value written wholly before that write began;
//   - duplicate-write: a value reappears after a read saw a value written
//     wholly after it (it was applied again);
//   - lost-write: a final read (quiet, healed) returns a value older than
//     an acknowledged write, or the initial value after one.
func named(history []Op) []Anomaly {
	var out []Anomaly
	byKey := map[string][]Op{}
	for _, op := range history {
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ops := byKey[k]
		writes := map[int64]Op{}
		for _, op := range ops {
			if op.Kind == Write {
				writes[op.Value] = op
			}
		}
		// before: w1 wholly before w2 (w1 acknowledged before w2 began).
		before := func(v1, v2 int64) bool {
			w1, ok1 := writes[v1]
			w2, ok2 := writes[v2]
			if v1 == 0 && ok2 {
				return true // the initial value precedes every write
			}
			return ok1 && ok2 && !w1.Unknown && w1.Return.Before(w2.Call)
		}
		var reads []Op
		for _, op := range ops {
			if op.Kind != Read {
				continue
			}
			if op.Value == 0 {
				v, ok := absentRead(op, ops)
				if !ok {
					continue // porcupine has judged it
				}
				op.Value = v
			}
			reads = append(reads, op)
		}
		sort.Slice(reads, func(i, j int) bool { return reads[i].Return.Before(reads[j].Return) })
		for _, r := range reads {
			for v, w := range writes {
				if w.Unknown || !w.Return.Before(r.Call) || r.Value == v || !before(r.Value, v) {
					continue
				}
				kind, detail := "stale-read", fmt.Sprintf("a read at %s returned %d, written wholly before write %d, acknowledged before the read began", r.Node, r.Value, v)
				if r.Final {
					kind, detail = "lost-write", fmt.Sprintf("the final read at %s returned %d: acknowledged write %d is gone", r.Node, r.Value, v)
				}
				out = append(out, Anomaly{Kind: kind, Key: k, Detail: detail})
				break
			}
		}
		for i, r1 := range reads {
			for _, r2 := range reads[i+1:] {
				if r2.Call.After(r1.Return) && r2.Value != r1.Value && before(r2.Value, r1.Value) {
					out = append(out, Anomaly{Kind: "duplicate-write", Key: k, Detail: fmt.Sprintf(
						"value %d came back after a read saw %d, written wholly after it", r2.Value, r1.Value)})
					break
				}
			}
		}
	}
	return out
}

// absentRead says which value a read that found no entity saw: 0 when
// only "not created yet" fits it, the delete's value when only "deleted"
// does. When both fit (the read spans the entity's whole life), it
// reports !ok and the named checks leave the read to porcupine.
func absentRead(r Op, ops []Op) (v int64, ok bool) {
	initial, deleted := true, false
	var latest time.Time
	for _, w := range ops {
		if w.Kind != Write {
			continue
		}
		if w.Value > 0 && !w.Unknown && w.Return.Before(r.Call) {
			initial = false
		}
		// Of several deletes, the latest the read may have seen.
		if w.Value < 0 && w.Call.Before(r.Return) && (!deleted || w.Call.After(latest)) {
			deleted, v, latest = true, w.Value, w.Call
		}
	}
	switch {
	case deleted && initial:
		return 0, false
	case deleted:
		return v, true
	}
	return 0, true
}
