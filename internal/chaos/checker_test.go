package chaos

import (
	"testing"
	"time"
)

// at is a time t units after a fixed origin.
func at(t int) time.Time { return time.Unix(1_800_000_000, 0).Add(time.Duration(t) * time.Millisecond) }

func w(key string, v int64, call, ret int) Op {
	return Op{Key: key, Kind: Write, Value: v, Call: at(call), Return: at(ret)}
}

func r(key string, v int64, call, ret int) Op {
	return Op{Key: key, Kind: Read, Value: v, Call: at(call), Return: at(ret), Client: 1}
}

func kinds(rep Report) map[string]bool {
	out := map[string]bool{}
	for _, a := range rep.Anomalies {
		out[a.Kind] = true
	}
	return out
}

// The checker passes a history that fits a register and names a lost
// write, a duplicated write and a stale read.
func TestCheckerFindsEachAnomaly(t *testing.T) {
	good := []Op{w("a", 1, 0, 1), r("a", 1, 2, 3), w("a", 2, 4, 6), r("a", 1, 5, 7), r("a", 2, 8, 9),
		{Key: "a", Kind: Write, Value: 3, Call: at(10), Unknown: true}, r("a", 3, 20, 21),
		w("b", 7, 0, 2), r("b", 0, 1, 3), func() Op { o := r("b", 7, 30, 31); o.Final = true; return o }()}
	if rep := Check(good, time.Second); len(rep.Anomalies) != 0 || rep.Unknown != 1 || rep.Keys != 2 {
		t.Fatalf("a good history: %+v", rep)
	}
	final := r("a", 1, 10, 11)
	final.Final = true
	for name, tc := range map[string]struct {
		history []Op
		want    string
	}{
		"lost write":      {[]Op{w("a", 1, 0, 1), w("a", 2, 2, 3), final}, "lost-write"},
		"duplicate write": {[]Op{w("a", 1, 0, 1), w("a", 2, 2, 3), r("a", 2, 4, 5), r("a", 1, 6, 7)}, "duplicate-write"},
		"stale read":      {[]Op{w("a", 1, 0, 1), w("a", 2, 2, 3), r("a", 1, 4, 5)}, "stale-read"},
	} {
		rep := Check(tc.history, time.Second)
		got := kinds(rep)
		if !got[tc.want] || !got["non-linearizable"] {
			t.Errorf("%s: found %v, want %s and non-linearizable", name, rep.Anomalies, tc.want)
		}
	}
}

// An entity's life as a register: created (a write), changed, deleted (a
// negative write); a read that finds nothing fits before and after.
func TestCheckerFollowsAnEntitysLife(t *testing.T) {
	del := func(key string, v int64, call, ret int) Op { return w(key, -v, call, ret) }
	final := func(o Op) Op { o.Final = true; return o }
	// The read over 1..12 spans the whole life and fits "not yet"; the
	// delete over 8..30 takes effect after the read over 13..14.
	good := []Op{r("s", 0, 0, 1), w("s", 1, 2, 3), r("s", 1, 4, 5), w("s", 2, 6, 7), del("s", 3, 8, 30),
		r("s", 0, 1, 12), r("s", 2, 13, 14), r("s", 0, 31, 32), final(r("s", 0, 40, 41))}
	if rep := Check(good, time.Second); len(rep.Anomalies) != 0 {
		t.Fatalf("a good life: %+v", rep.Anomalies)
	}
	for name, tc := range map[string]struct {
		history []Op
		want    string
	}{
		"resurrected":  {[]Op{w("s", 1, 0, 1), del("s", 2, 2, 3), r("s", 0, 4, 5), r("s", 1, 6, 7)}, "duplicate-write"},
		"lost delete":  {[]Op{w("s", 1, 0, 1), del("s", 2, 2, 3), final(r("s", 1, 10, 11))}, "lost-write"},
		"lost create":  {[]Op{w("s", 1, 0, 1), final(r("s", 0, 10, 11))}, "lost-write"},
		"absent early": {[]Op{w("s", 1, 0, 1), r("s", 0, 2, 3), del("s", 2, 4, 5)}, "stale-read"},
	} {
		rep := Check(tc.history, time.Second)
		got := kinds(rep)
		if !got[tc.want] || !got["non-linearizable"] {
			t.Errorf("%s: found %v, want %s and non-linearizable", name, rep.Anomalies, tc.want)
		}
	}
}
