package fsm

import (
	"bytes"
	"fmt"
	"sort"
)

// MaxIntegrityIssues bounds what one check reports.
const MaxIntegrityIssues = 1000

// IntegrityReport is what CheckIntegrity found.
type IntegrityReport struct {
	Issues []string
	// TooMany: the check stopped at MaxIntegrityIssues.
	TooMany bool
}

// CheckIntegrity reads the whole state in one read transaction and reports
// what does not hold together: entities that do not decode, index entries
// missing for an entity's keys, index entries naming no entity or a key the
// entity no longer has (orphans), and references to entities that do not
// exist. It changes nothing: the state is replicated, and a repair on one
// node would make it differ from the others (a damaged node is repaired by
// removing it and adding it back, which installs the leader's snapshot).
func (s *Store) CheckIntegrity() (IntegrityReport, error) {
	var rep IntegrityReport
	add := func(format string, args ...any) bool {
		if len(rep.Issues) >= MaxIntegrityIssues {
			rep.TooMany = true
			return false
		}
		rep.Issues = append(rep.Issues, fmt.Sprintf(format, args...))
		return true
	}
	names := make([]string, 0, len(s.kinds))
	for name := range s.kinds {
		names = append(names, name)
	}
	sort.Strings(names)
	err := s.View(func(r *Reader) error {
		tx := r.tx
		for _, name := range names {
			kind := s.kinds[name]
			entities := tx.Bucket([]byte(entityBucket(name)))
			want := map[string]map[string]string{} // index → expected entry → the id it names
			for _, ix := range kind.allIndexes() {
				want[ix.Name] = map[string]string{}
			}
			err := entities.ForEach(func(k, raw []byte) error {
				e, body, err := decodeEntity(kind, raw)
				if err != nil {
					add("%s %s does not decode: %v", name, k, err)
					return nil
				}
				for _, ix := range kind.allIndexes() {
					for _, key := range indexKeys(ix, e.GetTags(), body) {
						want[ix.Name][string(indexKey(ix, key, k))] = string(k)
					}
				}
				for _, ref := range kind.Refs {
					for _, target := range kind.index(ref.Index.name).Keys(body) {
						if tx.Bucket([]byte(entityBucket(ref.Target))).Get([]byte(target)) == nil {
							add("%s %s: %s names %s %s, which does not exist", name, k, ref.Field, ref.Target, target)
						}
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, ix := range kind.allIndexes() {
				b := tx.Bucket([]byte(indexBucket(name, ix.Name)))
				found := map[string]bool{}
				_ = b.ForEach(func(k, v []byte) error {
					found[string(k)] = true
					id, ok := want[ix.Name][string(k)]
					switch {
					case !ok:
						add("%s index %s: entry %q names no entity that has that key (orphan)", name, ix.Name, printable(k))
					case ix.Unique && string(v) != id:
						add("%s index %s: entry %q names %s, not %s, which has that key", name, ix.Name, printable(k), v, id)
					}
					return nil
				})
				for k := range want[ix.Name] {
					if !found[k] {
						add("%s index %s: entry %q is missing", name, ix.Name, printable([]byte(k)))
					}
				}
			}
		}
		return nil
	})
	sort.Strings(rep.Issues)
	return rep, err
}

// printable shows an index key with its NUL separator visible.
func printable(k []byte) string { return string(bytes.ReplaceAll(k, []byte{0}, []byte(" / "))) }
