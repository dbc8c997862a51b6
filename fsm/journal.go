package fsm

import (
	bolt "go.etcd.io/bbolt"
)

// journal records the previous value of every key a command touches, so a
// command that fails halfway can be undone inside a transaction that also
// holds other commands of the same Raft batch. bbolt has no savepoints;
// this is the smallest thing that gives per-command atomicity while keeping
// one fsync per batch.
type journal struct {
	tx      *bolt.Tx
	entries []journalEntry
}

type journalEntry struct {
	bucket  string
	key     []byte
	old     []byte
	existed bool
}

func (j *journal) bucket(name string) *bolt.Bucket {
	return j.tx.Bucket([]byte(name))
}

func (j *journal) get(bucket string, key []byte) []byte {
	return j.bucket(bucket).Get(key)
}

func (j *journal) remember(bucket string, key []byte) {
	old := j.bucket(bucket).Get(key)
	e := journalEntry{bucket: bucket, key: append([]byte(nil), key...), existed: old != nil}
	if old != nil {
		e.old = append([]byte(nil), old...)
	}
	j.entries = append(j.entries, e)
}

func (j *journal) put(bucket string, key, value []byte) error {
	j.remember(bucket, key)
	return j.bucket(bucket).Put(key, value)
}

func (j *journal) delete(bucket string, key []byte) error {
	j.remember(bucket, key)
	return j.bucket(bucket).Delete(key)
}

// undo restores every touched key, newest change first.
func (j *journal) undo() error {
	for i := len(j.entries) - 1; i >= 0; i-- {
		e := j.entries[i]
		b := j.bucket(e.bucket)
		var err error
		if e.existed {
			err = b.Put(e.key, e.old)
		} else {
			err = b.Delete(e.key)
		}
		if err != nil {
			return err
		}
	}
	j.entries = j.entries[:0]
	return nil
}

// reset forgets the recorded changes once a command has succeeded.
func (j *journal) reset() { j.entries = j.entries[:0] }
