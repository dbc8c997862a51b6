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
	// Access marks the kinds whose writes can change which services an
	// identity may reach: each write records its time (AccessChangedAt).
	Access bool
}

// Index maps values derived from a body to entity ids. Indexes are declared
// through the handle that reads them (Unique.Index, Multi.Index), so the
// name a caller reads by is the name the store writes under.
type Index struct {
	// Name identifies the index within its kind ("name").
	Name string
	// Unique indexes refuse a second entity with the same key (CONFLICT).
	Unique bool
	// Field is the API field name reported when a unique key collides.
	Field string
	// Keys returns the index keys of a body; empty strings are skipped.
	Keys func(body proto.Message) []string

	kind string // the kind the handle names; Open checks it
}

// IndexRef is a handle on one index of one kind: a Unique or a Multi.
type IndexRef interface {
	// KindName and IndexName name the index.
	KindName() string
	IndexName() string
}

// Unique is a handle on a unique index (key -> one id). Reader.Lookup and
// ExpectOp take one, so they cannot be handed a non-unique index.
type Unique struct{ kind, name string }

// Multi is a handle on a non-unique index (key -> many ids). IDsByIndex and
// Ref take one, so a reference can never name a unique index.
type Multi struct{ kind, name string }

// UniqueIndex returns the handle of the unique index name of kind.
func UniqueIndex(kind, name string) Unique { return Unique{kind, name} }

// MultiIndex returns the handle of the non-unique index name of kind.
func MultiIndex(kind, name string) Multi { return Multi{kind, name} }

// KindName is the kind the index belongs to.
func (u Unique) KindName() string { return u.kind }

// IndexName is the index's name within its kind.
func (u Unique) IndexName() string { return u.name }

// KindName is the kind the index belongs to.
func (m Multi) KindName() string { return m.kind }

// IndexName is the index's name within its kind.
func (m Multi) IndexName() string { return m.name }

// Index declares the index this handle names. field is the API field
// reported when a key collides.
func (u Unique) Index(field string, keys func(proto.Message) []string) Index {
	return Index{Name: u.name, Unique: true, Field: field, Keys: keys, kind: u.kind}
}

// Index declares the index this handle names. field is the API field
// reported for a dangling reference through it.
func (m Multi) Index(field string, keys func(proto.Message) []string) Index {
	return Index{Name: m.name, Field: field, Keys: keys, kind: m.kind}
}

// DeleteRule says what happens to referring entities when the target of a
// reference is deleted.
type DeleteRule int

const (
	// Cascade deletes the referring entities along with the target.
	Cascade DeleteRule = iota
	// Restrict refuses to delete a target that is still referenced.
	Restrict
	// Drop removes the reference from each referring entity (Ref.Drop),
	// which stays: a policy naming a deleted identity by id.
	Drop
)

// Ref declares that entities of a kind point at entities of Target through
// the values of one of the kind's indexes. Writes with a dangling reference
// fail with REFERENCE_MISSING; deletes of the target follow OnDelete.
type Ref struct {
	// Index is this kind's non-unique index whose keys are target ids:
	// deletes find referrers by prefix scan, which only those support.
	Index Multi
	// Field is the API field name reported for a dangling reference.
	Field string
	// Target is the referenced kind's name.
	Target string
	// OnDelete is applied when the target is deleted.
	OnDelete DeleteRule
	// Drop, for OnDelete Drop, removes the reference to target from a
	// referring entity's body in place. It must be deterministic.
	Drop func(body proto.Message, target string)
}

// TagIndex is the index every kind keeps on its tags. Its keys are
// TagKey(name, value); list filters such as tags.env = "prod" use it.
const TagIndex = "#tags"

var tagIndex = Index{Name: TagIndex, Field: "tags"}

// Tags is the handle of a kind's tag index.
func Tags(kind string) Multi { return Multi{kind, TagIndex} }

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
		&configTypeKind,
		&configKind,
		&serviceKind,
		&postureCheckKind,
		&servicePolicyKind,
		&edgeRouterPolicyKind,
		&serviceEdgeRouterPolicyKind,
		&sessionKind,
		&postureDataKind,
		&postureFailuresKind,
		&terminatorKind,
		&authPolicyKind,
		&mfaKind,
		&extJwtSignerKind,
		&revocationKind,
		&controllerSettingKind,
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
