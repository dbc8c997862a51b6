package fsm

import (
	"encoding/json"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Kind describes one entity type to the generic store: how to make an empty
// body, which indexes it keeps and which other entities it refers to. A new
// entity type is one small file declaring a Kind plus a line in allKinds.
type Kind struct {
	// Name is the type name used in commands and bucket names ("identities").
	Name string
	// New returns an empty body message of this type.
	New func() proto.Message
	// Indexes are maintained on every write.
	Indexes []Index
	// Refs are this type's pointers to other entities.
	Refs []Ref
}

// Index maps values derived from a body to entity ids.
type Index struct {
	// Name identifies the index within its kind ("name").
	Name string
	// Unique indexes refuse a second entity with the same key (CONFLICT).
	Unique bool
	// Field is the API field name reported when a unique key collides.
	Field string
	// Keys returns the index keys of a body; empty strings are skipped.
	Keys func(body proto.Message) []string
}

// DeleteRule says what happens to referring entities when the target of a
// reference is deleted.
type DeleteRule int

const (
	// Cascade deletes the referring entities along with the target.
	Cascade DeleteRule = iota
	// Restrict refuses to delete a target that is still referenced.
	Restrict
)

// Ref declares that entities of a kind point at entities of Target through
// the values of one of the kind's indexes. Writes with a dangling reference
// fail with REFERENCE_MISSING; deletes of the target follow OnDelete.
type Ref struct {
	// Index is the name of this kind's index whose keys are target ids.
	Index string
	// Field is the API field name reported for a dangling reference.
	Field string
	// Target is the referenced kind's name.
	Target string
	// OnDelete is applied when the target is deleted.
	OnDelete DeleteRule
}

// TagIndex is the index every kind keeps on its tags. Its keys are
// TagKey(name, value); list filters such as tags.env = "prod" use it.
const TagIndex = "#tags"

var tagIndex = Index{Name: TagIndex, Field: "tags"}

// allIndexes is the kind's own indexes plus the tag index.
func (k *Kind) allIndexes() []Index {
	return append(append([]Index(nil), k.Indexes...), tagIndex)
}

// indexKeys returns the keys of one index for an entity. Keys containing a
// NUL byte are left out: NUL separates key and id in non-unique indexes.
func indexKeys(ix Index, tags *structpb.Struct, body proto.Message) []string {
	var keys []string
	if ix.Name == TagIndex {
		for name, v := range tags.GetFields() {
			keys = append(keys, TagKey(name, v.AsInterface()))
		}
		slices.Sort(keys) // map order is random; index writes must not be
	} else {
		keys = ix.Keys(body)
	}
	return slices.DeleteFunc(keys, func(k string) bool { return strings.IndexByte(k, 0) >= 0 })
}

// TagKey is the tag index key of one tag: the name, "=", and the value as
// JSON, so "1" and 1 and true are different keys.
func TagKey(name string, value any) string {
	v, err := json.Marshal(value)
	if err != nil {
		v = []byte("null")
	}
	return name + "=" + string(v)
}

// allKinds lists every registered entity type. Order matters only for
// readability; bucket names are derived from Kind.Name.
func allKinds() []*Kind {
	return []*Kind{
		&identityKind,
		&authenticatorKind,
		&apiSessionKind,
		&controllerKind,
		&caKind,
		&edgeRouterKind,
		&enrollmentKind,
		&apiSessionCertificateKind,
	}
}

// keysOf is a helper for Index.Keys of a single optional value.
func keysOf(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

func failure(code pb.Result_Code, field, value, msg string) *pb.Result {
	return &pb.Result{Code: code, Field: field, Value: value, Message: msg}
}
