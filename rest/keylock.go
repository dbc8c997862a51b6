package rest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// keyLocks serialises work per key (a username's password checks, a
// session's MFA codes) without holding anything for keys no one is using.
// A caller waits at most keyLockWait, and at most keyLockWaiters callers
// may queue on one key: a flood of attempts on one key is refused instead
// of queued without end.
type keyLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	held chan struct{} // one slot: holding it is holding the lock
	refs int
}

const (
	keyLockWait    = 5 * time.Second
	keyLockWaiters = 32
)

// errKeyBusy: too many callers on one key, or waited too long.
var errKeyBusy = errors.New("too many requests for this key at once")

// busyKey is the answer to a request refused by a key lock.
func busyKey() *api.Error {
	return &api.Error{Status: http.StatusTooManyRequests, Code: api.CodeRateLimited,
		Message: "Too many attempts for this account or session at once; retry shortly"}
}

// lock locks key, waiting at most keyLockWait or until ctx ends, and
// returns its unlock.
func (k *keyLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{held: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	if l.refs >= keyLockWaiters {
		k.mu.Unlock()
		return nil, errKeyBusy
	}
	l.refs++
	k.mu.Unlock()
	release := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	timer := time.NewTimer(keyLockWait)
	defer timer.Stop()
	select {
	case l.held <- struct{}{}:
		return func() { <-l.held; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	case <-timer.C:
		release()
		return nil, errKeyBusy
	}
}
