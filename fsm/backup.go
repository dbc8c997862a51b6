package fsm

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// A backup file is the state database framed so that a restore can tell
// a whole, unaltered copy of this cluster's state from anything else:
//
//	garrison-backup
//	{"format":1,"cluster":"…","node":"…","appliedIndex":…,"createdAt":"…","bytes":N}
//	<N bytes: the bbolt database, as one read transaction saw it>
//	{"sha256":"…"}
//
// The SHA-256 covers everything before its line.
const (
	backupMagic = "garrison-backup"
	// BackupFormat is the version of backup files this build writes and
	// reads.
	BackupFormat = 1
)

// BackupHeader describes a backup.
type BackupHeader struct {
	Format int `json:"format"`
	// Cluster names the cluster the state belongs to (the fingerprint of
	// its root CA, set by the caller); a restore refuses another's.
	Cluster      string    `json:"cluster"`
	Node         string    `json:"node"`
	AppliedIndex uint64    `json:"appliedIndex"`
	CreatedAt    time.Time `json:"createdAt"`
	Bytes        int64     `json:"bytes"`
}

type backupTrailer struct {
	SHA256 string `json:"sha256"`
}

// WriteBackup writes a backup of the state as one read transaction sees
// it, consistent while applies go on, and returns its header.
func (s *Store) WriteBackup(w io.Writer, cluster, node string) (BackupHeader, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tx, err := s.db.Begin(false)
	if err != nil {
		return BackupHeader{}, fmt.Errorf("begin backup: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	h := BackupHeader{Format: BackupFormat, Cluster: cluster, Node: node, CreatedAt: time.Now().UTC(), Bytes: tx.Size()}
	if v := tx.Bucket([]byte(metaBucket)).Get([]byte(appliedKey)); len(v) == 8 {
		h.AppliedIndex = binary.BigEndian.Uint64(v)
	}
	head, err := json.Marshal(h)
	if err != nil {
		return h, err
	}
	sum := sha256.New()
	out := io.MultiWriter(w, sum)
	if _, err := fmt.Fprintf(out, "%s\n%s\n", backupMagic, head); err != nil {
		return h, fmt.Errorf("write backup header: %w", err)
	}
	n, err := tx.WriteTo(out)
	if err != nil {
		return h, fmt.Errorf("write backup: %w", err)
	}
	if n != h.Bytes {
		return h, fmt.Errorf("write backup: %d bytes written, %d announced", n, h.Bytes)
	}
	tail, _ := json.Marshal(backupTrailer{SHA256: hex.EncodeToString(sum.Sum(nil))})
	if _, err := fmt.Fprintf(w, "\n%s\n", tail); err != nil {
		return h, fmt.Errorf("write backup trailer: %w", err)
	}
	return h, nil
}

// ErrBadBackup wraps every reason a backup file is refused.
var ErrBadBackup = errors.New("not a usable backup")

// maxBackupBytes bounds the database a backup may announce.
const maxBackupBytes = 64 << 30

// ReadBackup checks a backup (framing, format, length, checksum) and
// writes its database to path, which it removes again if the backup is
// refused. It does not judge the cluster; the caller compares
// BackupHeader.Cluster.
func ReadBackup(r io.Reader, path string) (BackupHeader, error) {
	var h BackupHeader
	br := bufio.NewReaderSize(r, 64<<10)
	sum := sha256.New()
	line := func(what string) ([]byte, error) {
		b, err := br.ReadSlice('\n')
		if err != nil {
			return nil, fmt.Errorf("%w: no %s line (%v)", ErrBadBackup, what, err)
		}
		sum.Write(b)
		return b[:len(b)-1], nil
	}
	magic, err := line("first")
	if err != nil || string(magic) != backupMagic {
		return h, fmt.Errorf("%w: not a Garrison backup file", ErrBadBackup)
	}
	head, err := line("header")
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(head, &h); err != nil {
		return h, fmt.Errorf("%w: unreadable header: %v", ErrBadBackup, err)
	}
	if h.Format != BackupFormat {
		return h, fmt.Errorf("%w: format %d, this build reads format %d", ErrBadBackup, h.Format, BackupFormat)
	}
	if h.Bytes <= 0 || h.Bytes > maxBackupBytes {
		return h, fmt.Errorf("%w: announced size %d", ErrBadBackup, h.Bytes)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return h, err
	}
	fail := func(err error) (BackupHeader, error) {
		f.Close()
		os.Remove(path)
		return h, err
	}
	if n, err := io.CopyN(io.MultiWriter(f, sum), br, h.Bytes); err != nil {
		return fail(fmt.Errorf("%w: truncated: %d of %d database bytes", ErrBadBackup, n, h.Bytes))
	}
	want := hex.EncodeToString(sum.Sum(nil))
	rest, err := io.ReadAll(io.LimitReader(br, 4096))
	if err != nil {
		return fail(fmt.Errorf("%w: reading the trailer: %v", ErrBadBackup, err))
	}
	var tail backupTrailer
	if len(rest) < 2 || rest[0] != '\n' || json.Unmarshal(rest[1:], &tail) != nil {
		return fail(fmt.Errorf("%w: truncated or altered: no checksum trailer", ErrBadBackup))
	}
	if tail.SHA256 != want {
		return fail(fmt.Errorf("%w: checksum mismatch: the file was altered or damaged", ErrBadBackup))
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return h, err
	}
	return h, nil
}

// Restore keeps every entity of the backup but what belongs to the old
// cluster's running members: their controller records and every API
// session (with its certificates and network sessions, and so every
// token): the new cluster's members sign with their own keys, and clients
// log in again.
var restoreDrops = []string{KindApiSession, KindController}

// PrepareRestore makes a restored state a new cluster's first state: it
// drops restoreDrops and sets the applied index to 0, so the new cluster's
// log applies from its first entry. It returns how many entities of each
// kind it kept.
func (s *Store) PrepareRestore() (map[string]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := map[string]int{}
	err := s.db.Update(func(tx *bolt.Tx) error {
		j := &journal{tx: tx}
		for _, kind := range restoreDrops {
			var ids []string
			_ = tx.Bucket([]byte(entityBucket(kind))).ForEach(func(k, _ []byte) error {
				ids = append(ids, string(k))
				return nil
			})
			for _, id := range ids {
				res, err := s.delete(j, time.Now().UnixNano(), kind, id)
				if err != nil {
					return err
				}
				if c := res.GetCode(); c != pb.Result_OK && c != pb.Result_NOT_FOUND {
					return fmt.Errorf("drop %s %s: %s", kind, id, res.GetMessage())
				}
			}
		}
		for name := range s.kinds {
			_ = tx.Bucket([]byte(entityBucket(name))).ForEach(func(_, _ []byte) error {
				kept[name]++
				return nil
			})
		}
		var zero [8]byte
		return tx.Bucket([]byte(metaBucket)).Put([]byte(appliedKey), zero[:])
	})
	if err != nil {
		return nil, err
	}
	s.setApplied(0)
	return kept, nil
}

// Digest is a SHA-256 over every bucket's keys and values but the
// applied index: two nodes that applied the same log have the same
// digest, whatever the layout of their files.
func (s *Store) Digest() (string, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := sha256.New()
	var applied uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			h.Write(name)
			h.Write([]byte{0})
			return b.ForEach(func(k, v []byte) error {
				if string(name) == metaBucket && string(k) == appliedKey {
					if len(v) == 8 {
						applied = binary.BigEndian.Uint64(v)
					}
					return nil
				}
				var n [8]byte
				binary.BigEndian.PutUint64(n[:], uint64(len(k)))
				h.Write(n[:])
				h.Write(k)
				binary.BigEndian.PutUint64(n[:], uint64(len(v)))
				h.Write(n[:])
				h.Write(v)
				return nil
			})
		})
	})
	return hex.EncodeToString(h.Sum(nil)), applied, err
}
