package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
)

// Record is a decoded entity.
type Record struct {
	Kind      string
	ID        string
	CreatedAt time.Time
	UpdatedAt time.Time
	Tags      map[string]any
	Body      proto.Message
}

// As returns the record's body as T.
func As[T proto.Message](r *Record) (T, bool) {
	t, ok := r.Body.(T)
	return t, ok
}

// Reader reads one consistent view of the state.
type Reader struct {
	s  *Store
	tx *bolt.Tx
	// buckets remembers the view's bucket handles: looking one up walks
	// the root bucket, and a list reads the same few buckets many times.
	buckets []namedBucket
}

type namedBucket struct {
	name string
	b    *bolt.Bucket
}

// bucket is the view's bucket name.
func (r *Reader) bucket(name string) *bolt.Bucket {
	for _, nb := range r.buckets {
		if nb.name == name {
			return nb.b
		}
	}
	b := r.tx.Bucket([]byte(name))
	if len(r.buckets) < 16 {
		r.buckets = append(r.buckets, namedBucket{name, b})
	}
	return b
}

// View runs fn against a consistent read-only view of the state.
func (s *Store) View(fn func(r *Reader) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return fmt.Errorf("state db is closed")
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Reader{s: s, tx: tx}) })
}

// Get returns one entity by kind and id, or ErrNotFound.
func (s *Store) Get(kind, id string) (*Record, error) {
	var rec *Record
	err := s.View(func(r *Reader) error {
		var err error
		rec, err = r.Get(kind, id)
		return err
	})
	return rec, err
}

func (r *Reader) kind(name string) (*Kind, error) {
	k, ok := r.s.kinds[name]
	if !ok {
		return nil, fmt.Errorf("unknown entity type %q", name)
	}
	return k, nil
}

// Get returns one entity by kind and id, or ErrNotFound.
func (r *Reader) Get(kindName, id string) (*Record, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return nil, err
	}
	raw := r.bucket(entityBucket(k.Name)).Get([]byte(id))
	if raw == nil {
		return nil, fmt.Errorf("%s %s: %w", kindName, id, ErrNotFound)
	}
	return toRecord(k, raw)
}

// Raw returns the stored bytes of one entity (nil if there is none), valid
// only while the read view lasts: a cache compares them to know whether the
// entity changed, without decoding it.
func (r *Reader) Raw(kindName, id string) ([]byte, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return nil, err
	}
	return r.bucket(entityBucket(k.Name)).Get([]byte(id)), nil
}

// Decode decodes stored bytes Raw returned for an entity of kind.
func (r *Reader) Decode(kindName string, raw []byte) (*Record, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return nil, err
	}
	return toRecord(k, raw)
}

// Has reports whether an entity of kind with id exists, without decoding it.
func (r *Reader) Has(kindName, id string) (bool, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return false, err
	}
	return r.bucket(entityBucket(k.Name)).Get([]byte(id)) != nil, nil
}

// index resolves a handle against the registered kinds.
func (r *Reader) index(h IndexRef) (*Kind, *Index, error) {
	k, err := r.kind(h.KindName())
	if err != nil {
		return nil, nil, err
	}
	ix := k.index(h.IndexName())
	if ix == nil {
		return nil, nil, fmt.Errorf("%s has no index %q", k.Name, h.IndexName())
	}
	return k, ix, nil
}

// Lookup finds the entity holding key in a unique index, or ErrNotFound.
func (r *Reader) Lookup(h Unique, key string) (*Record, error) {
	k, _, err := r.index(h)
	if err != nil {
		return nil, err
	}
	id := r.bucket(indexBucket(k.Name, h.name)).Get([]byte(key))
	if id == nil {
		return nil, fmt.Errorf("%s with %s %q: %w", k.Name, h.name, key, ErrNotFound)
	}
	return r.Get(k.Name, string(id))
}

// IDsByIndex lists the ids under key in a non-unique index.
func (r *Reader) IDsByIndex(h Multi, key string) ([]string, error) {
	k, _, err := r.index(h)
	if err != nil {
		return nil, err
	}
	return scanIndex(r.bucket(indexBucket(k.Name, h.name)), key), nil
}

// ForEach calls fn for every entity of a kind in id order; an error from fn
// ends the iteration and is returned.
func (r *Reader) ForEach(kindName string, fn func(*Record) error) error {
	k, err := r.kind(kindName)
	if err != nil {
		return err
	}
	return r.bucket(entityBucket(k.Name)).ForEach(func(_, raw []byte) error {
		rec, err := toRecord(k, raw)
		if err != nil {
			return err
		}
		return fn(rec)
	})
}

// IDs returns the ids of every entity of a kind, in order, decoding none.
func (r *Reader) IDs(kindName string) ([]string, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = r.bucket(entityBucket(k.Name)).ForEach(func(id, _ []byte) error {
		ids = append(ids, string(id))
		return nil
	})
	return ids, err
}

// Count returns the number of entities of a kind.
func (r *Reader) Count(kindName string) (int, error) {
	k, err := r.kind(kindName)
	if err != nil {
		return 0, err
	}
	return r.bucket(entityBucket(k.Name)).Stats().KeyN, nil
}

func toRecord(k *Kind, raw []byte) (*Record, error) {
	e, body, err := decodeEntity(k, raw)
	if err != nil {
		return nil, err
	}
	rec := &Record{
		Kind:      k.Name,
		ID:        e.GetId(),
		CreatedAt: time.Unix(0, e.GetCreatedAt()).UTC(),
		UpdatedAt: time.Unix(0, e.GetUpdatedAt()).UTC(),
		Body:      body,
	}
	if e.GetTags() != nil {
		rec.Tags = e.GetTags().AsMap()
	}
	return rec, nil
}

func (k *Kind) index(name string) *Index {
	for i := range k.Indexes {
		if k.Indexes[i].Name == name {
			return &k.Indexes[i]
		}
	}
	if name == TagIndex {
		return &tagIndex
	}
	return nil
}

// IDsByTag lists the ids of entities of a kind whose tag name equals value.
func (r *Reader) IDsByTag(kindName, name string, value any) ([]string, error) {
	return r.IDsByIndex(Tags(kindName), TagKey(name, value))
}

// ScanPrefix calls fn, in key order, for every entry of an index whose key
// starts with prefix: a name prefix search without reading any entity.
// fn returning an error stops the scan and the error is returned.
func (r *Reader) ScanPrefix(h IndexRef, prefix string, fn func(key, id string) error) error {
	k, ix, err := r.index(h)
	if err != nil {
		return err
	}
	c := r.bucket(indexBucket(k.Name, ix.Name)).Cursor()
	p := []byte(prefix)
	for key, v := c.Seek(p); key != nil && bytes.HasPrefix(key, p); key, v = c.Next() {
		if ix.Unique {
			err = fn(string(key), string(v))
		} else {
			value, id, _ := bytes.Cut(key, []byte{0})
			err = fn(string(value), string(id))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Keys lists the distinct keys of an index in order, at most limit of them
// after skipping offset (limit < 0: all), and how many there are in all.
// It serves lists such as /identity-role-attributes.
func (r *Reader) Keys(h IndexRef, offset, limit int) ([]string, int, error) {
	var out []string
	total := 0
	last := ""
	err := r.ScanPrefix(h, "", func(key, _ string) error {
		if total > 0 && key == last {
			return nil
		}
		last = key
		if total >= offset && (limit < 0 || len(out) < limit) {
			out = append(out, key)
		}
		total++
		return nil
	})
	return out, total, err
}

// NewBody returns an empty body message of a kind.
func (s *Store) NewBody(kind string) (proto.Message, error) {
	k, ok := s.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("unknown entity type %q", kind)
	}
	return k.New(), nil
}

// IndexKeys are the keys a record has in one of its kind's indexes, as the
// store computes them on write; nil if the index is not the record's kind's.
func (s *Store) IndexKeys(h IndexRef, rec *Record) []string {
	k, ok := s.kinds[h.KindName()]
	if !ok || rec.Kind != k.Name {
		return nil
	}
	ix := k.index(h.IndexName())
	if ix == nil || ix.Name == TagIndex {
		return nil
	}
	return ix.Keys(rec.Body)
}

// AccessChangedAt is the time of the last write that could change which
// services an identity may reach (Kind.Access), zero if none: what
// /current-api-session/service-updates answers, conservatively for every
// identity. It is replicated state, the same on every node.
func (r *Reader) AccessChangedAt() time.Time {
	v := r.bucket(metaBucket).Get([]byte(accessKey))
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC()
}
