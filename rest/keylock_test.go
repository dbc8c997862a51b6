package rest

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// Work under one key never overlaps; other keys run beside it; nothing is
// kept once unlocked.
func TestKeyLocks(t *testing.T) {
	var k keyLocks
	var inside, overlap atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := "alice"
			if i%2 == 1 {
				key = "bob"
			}
			unlock := k.lock(key)
			if key == "alice" {
				if inside.Add(1) > 1 {
					overlap.Add(1)
				}
				runtime.Gosched() // let another holder in, if the lock allowed one
				inside.Add(-1)
			}
			unlock()
		}()
	}
	wg.Wait()
	if overlap.Load() != 0 {
		t.Fatalf("%d overlapping holders of one key", overlap.Load())
	}
	if len(k.locks) != 0 {
		t.Fatalf("%d locks kept after unlocking", len(k.locks))
	}
}
