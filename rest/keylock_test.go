package rest

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
			unlock, err := k.lock(context.Background(), key)
			if err != nil {
				t.Error(err)
				return
			}
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

// A caller gives up when its context ends, and a key takes only so many
// waiters.
func TestKeyLocksBounded(t *testing.T) {
	var k keyLocks
	unlock, err := k.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a waiter past its deadline: %v", err)
	}
	k.locks["k"].refs = keyLockWaiters
	if _, err := k.lock(context.Background(), "k"); !errors.Is(err, errKeyBusy) {
		t.Fatalf("a waiter beyond the bound: %v", err)
	}
	k.locks["k"].refs = 1
	unlock()
	if len(k.locks) != 0 {
		t.Fatalf("%d locks kept", len(k.locks))
	}
}
