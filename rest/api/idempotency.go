package api

import (
	"crypto/sha256"
	"hash"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
)

// IdempotencyHeader is the header of the IETF httpapi draft "The
// Idempotency-Key HTTP Header Field": a client that sends the same key
// with a retried request gets the first request's outcome, applied once.
const IdempotencyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds the header's value.
const maxIdempotencyKey = 255

// maxFingerprintTail bounds the unread rest of a body Fingerprint reads.
const maxFingerprintTail = 1 << 20

type writeSeqKey struct{}

// writeSeq numbers what a request writes: its commands and the ids of
// the entities it creates, so a retry of the same request (same key)
// numbers them the same.
type writeSeq struct {
	key      string
	given    bool
	commands atomic.Int32
	ids      atomic.Int32

	// fingerprint hashes the request as its handler reads it (method,
	// target, then the body), for a client-chosen key only: the state
	// refuses the key reused for a different request.
	mu          sync.Mutex
	fingerprint hash.Hash
	body        io.Reader
}

// hashingBody feeds what the handler reads of a body to its fingerprint.
type hashingBody struct {
	io.ReadCloser
	seq *writeSeq
}

func (b hashingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.seq.mu.Lock()
	b.seq.fingerprint.Write(p[:n])
	b.seq.mu.Unlock()
	return n, err
}

// withIdempotency reads the request's Idempotency-Key (or makes one) into
// its context; a key that is empty, too long or not printable ASCII is a
// 400.
func withIdempotency(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	seq := &writeSeq{}
	if vs := r.Header.Values(IdempotencyHeader); len(vs) > 0 {
		k := vs[0]
		if len(vs) > 1 || k == "" || len(k) > maxIdempotencyKey || !printableASCII(k) {
			WriteError(w, r, Invalid(IdempotencyHeader, "must be one value of 1 to 255 printable ASCII characters", nil))
			return nil, false
		}
		seq.key, seq.given = k, true
		seq.fingerprint = sha256.New()
		_, _ = io.WriteString(seq.fingerprint, r.Method+" "+r.URL.RequestURI()+"\n")
		if r.Body != nil {
			hb := hashingBody{ReadCloser: r.Body, seq: seq}
			r.Body, seq.body = hb, hb
		}
	} else {
		seq.key = uuid.NewString()
	}
	return r.WithContext(contextWith(r, writeSeqKey{}, seq)), true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func seqOf(r *http.Request) *writeSeq {
	s, _ := r.Context().Value(writeSeqKey{}).(*writeSeq)
	if s == nil {
		s = &writeSeq{key: uuid.NewString()}
	}
	return s
}

// IdempotencyKey is the request's key: the client's Idempotency-Key, or
// one made for the request (given says which).
func IdempotencyKey(r *http.Request) (key string, given bool) {
	s := seqOf(r)
	return s.key, s.given
}

// Fingerprint identifies the request behind a client-chosen
// Idempotency-Key: a hash of its method, target and the body read so far
// (a handler reads its body before it writes). nil without such a key.
func Fingerprint(r *http.Request) []byte {
	s := seqOf(r)
	if s.fingerprint == nil {
		return nil
	}
	// A JSON decoder may stop before the body's end (trailing whitespace),
	// at a point that depends on how the bytes arrived: the rest is hashed
	// too, so a retry of the same bytes has the same fingerprint.
	if s.body != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(s.body, maxFingerprintTail))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fingerprint.Sum(nil)
}

// NextCommand numbers the request's next replicated command (from 1).
func NextCommand(r *http.Request) int32 { return seqOf(r).commands.Add(1) }

// PendingCommand is the number NextCommand gives next, without taking it.
func PendingCommand(r *http.Request) int32 { return seqOf(r).commands.Load() + 1 }

// NextID numbers the request's next new entity id (from 1).
func NextID(r *http.Request) int32 { return seqOf(r).ids.Add(1) }
