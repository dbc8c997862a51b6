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
