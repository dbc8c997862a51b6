package resource

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Type is how a field travels in JSON and how it is kept in the stored
// protobuf body.
type Type int

// Field types. The proto field a type maps to is given after the arrow.
const (
	String   Type = iota // JSON string -> string
	Bool                 // JSON boolean -> bool
	Int                  // JSON integer within Min..Max -> int64
	Enum                 // JSON string, one of Values -> string
	Strings              // array of strings (role attributes) -> repeated string
	Ref                  // id of an entity of RefKind -> string
	DateTime             // RFC 3339 date-time -> int64 unix nanoseconds
	Object               // free-form JSON object, bounded by Limits -> bytes (compact JSON)
	Nested               // object of Fields -> message
	IntMap               // object of integers within Min..Max -> map<string, int64>
	EnumMap              // object of strings, each one of Values -> map<string, string>
	TagMap               // object of strings, booleans and nulls (the spec's tags) -> bytes (JSON)
)

var typeNames = [...]string{"string", "boolean", "integer", "enum", "string list", "reference",
	"date-time", "object", "object", "map of integers", "map of strings", "tags"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Need says in which bodies a field must be present and not null.
type Need uint8

// Bodies that can require a field.
const (
	OnCreate Need = 1 << iota
	OnPut
	OnPatch
	// Always is what the spec's create and update bodies both require.
	Always = OnCreate | OnPut
)

// Access says where a field may be written and whether it is shown.
type Access uint8

const (
	// ReadWrite fields are set on create, PUT and PATCH, and rendered.
	ReadWrite Access = iota
	// CreateOnly fields are set on create and rendered; updates ignore
	// them, as OpenZiti does (its update bodies do not have them).
	CreateOnly
	// ReadOnly fields are rendered and never taken from a body.
	ReadOnly
	// WriteOnly fields are taken from bodies and never rendered or
	// filtered: secrets such as passwords.
	WriteOnly
	// FilterOnly fields are only for list filters: neither rendered nor
	// taken from bodies.
	FilterOnly
)

// Mode is the kind of body being read.
type Mode uint8

// Body kinds.
const (
	Create Mode = iota
	Put
	Patch
)

func (m Mode) need() Need { return [...]Need{OnCreate, OnPut, OnPatch}[m] }

// Defaults bounding values when a field sets none.
const (
	DefaultMaxString = 1024 // bytes of a String or Enum
	DefaultMaxItems  = 1000 // elements of a Strings, members of a map
)

// limits bound a free-form Object field; a field without Limits gets 64 KiB,
// 4096 items and 32 levels.
func (f *Field) limits() api.Limits {
	if f.Limits.MaxBytes > 0 {
		return f.Limits
	}
	return api.Limits{MaxBytes: 64 << 10, MaxItems: 4096, MaxDepth: 32}
}

// Field declares one field of a resource.
type Field struct {
	// Name is the field's name in rendered entities and in bodies.
	Name string
	// Input, when set, is the field's name in request bodies instead
	// (identities take "type" and render "typeId").
	Input string
	// Proto is the stored body's field (proto name). Empty for a field
	// that is only read from bodies (a password the hook hashes) or only
	// computed (Get).
	Proto string
	Type  Type

	// Values are the allowed strings of an Enum or EnumMap.
	Values []string
	// Min and Max bound an Int or IntMap's values, and a String's or a
	// Strings element's length in bytes (Max 0: the default).
	Min, Max int64
	// Fields are a Nested object's fields.
	Fields []Field
	// Limits bound an Object (zero: the defaults).
	Limits api.Limits
	// RefPath is a Ref's target collection path ("config-types"), and
	// RefName the name of the entityRef rendered beside the id
	// ("configType"); no entityRef when RefName is empty.
	RefPath, RefName string
	// RefKind is the kind a Ref names, whose name the entityRef shows.
	RefKind string
	// Default is rendered and filtered when a String or Enum is empty.
	Default string

	Required Need
	Access   Access
	// NotNull refuses null even where the field is optional.
	NotNull bool
	// Nullable renders an empty value as null; OmitEmpty leaves it out.
	Nullable, OmitEmpty bool

	// Filter are the names list filters use for this field; nil means
	// Name. NoFilter keeps the field out of filters.
	Filter   []string
	NoFilter bool
	// Index serves filters on this field from an index instead of a scan.
	Index fsm.IndexRef
	// Get computes a ReadOnly field (rendered and filtered) from the
	// record; Proto is then empty.
	Get func(rd *fsm.Reader, rec *fsm.Record) any
}

func (f *Field) inputName() string {
	if f.Input != "" {
		return f.Input
	}
	return f.Name
}

func (f *Field) rendered() bool { return f.Access != WriteOnly && f.Access != FilterOnly }

func (f *Field) writable(m Mode) bool {
	switch f.Access {
	case ReadWrite:
		return true
	case CreateOnly:
		return m == Create
	case WriteOnly:
		return true
	}
	return false
}

func (f *Field) filterNames() []string {
	if f.NoFilter || f.Access == WriteOnly || !f.Type.filterable() {
		return nil
	}
	if f.Filter != nil {
		return f.Filter
	}
	return []string{f.Name}
}

func (t Type) filterable() bool {
	switch t {
	case Object, Nested, IntMap, EnumMap, TagMap:
		return false
	}
	return true
}

// queryType is the filter language's type of the field.
func (t Type) queryType() query.FieldType {
	switch t {
	case Bool:
		return query.Bool
	case Int:
		return query.Number
	case Strings:
		return query.StringSet
	case DateTime:
		return query.Datetime
	}
	return query.String
}

// protoKind is the protobuf kind a Type is stored as.
func (t Type) protoKind() (protoreflect.Kind, string) {
	switch t {
	case Bool:
		return protoreflect.BoolKind, "bool"
	case Int, DateTime:
		return protoreflect.Int64Kind, "int64"
	case Object, TagMap:
		return protoreflect.BytesKind, "bytes"
	case Nested:
		return protoreflect.MessageKind, "message"
	case IntMap:
		return protoreflect.MessageKind, "map<string, int64>"
	case EnumMap:
		return protoreflect.MessageKind, "map<string, string>"
	}
	return protoreflect.StringKind, "string"
}

// checkField verifies a field's declaration against the body's message:
// the proto field exists and has the type's shape.
func checkField(md protoreflect.MessageDescriptor, f *Field) error {
	if f.Name == "" {
		return fmt.Errorf("a field without a name")
	}
	if f.Proto == "" {
		if f.Type == Nested {
			return fmt.Errorf("field %s: a nested field needs a proto field", f.Name)
		}
		if (f.Access == ReadOnly || f.Access == FilterOnly) && f.Get == nil {
			return fmt.Errorf("field %s: read-only without a proto field needs Get", f.Name)
		}
		return nil
	}
	fd := md.Fields().ByName(protoreflect.Name(f.Proto))
	if fd == nil {
		return fmt.Errorf("field %s: %s has no field %q", f.Name, md.FullName(), f.Proto)
	}
	kind, want := f.Type.protoKind()
	ok := fd.Kind() == kind
	switch f.Type {
	case Strings:
		ok = fd.IsList() && fd.Kind() == protoreflect.StringKind
	case IntMap:
		ok = fd.IsMap() && fd.MapValue().Kind() == protoreflect.Int64Kind
	case EnumMap:
		ok = fd.IsMap() && fd.MapValue().Kind() == protoreflect.StringKind
	default:
		ok = ok && !fd.IsList() && !fd.IsMap()
	}
	if !ok {
		return fmt.Errorf("field %s: %s.%s is not a %s", f.Name, md.FullName(), f.Proto, want)
	}
	switch f.Type {
	case Enum, EnumMap:
		if len(f.Values) == 0 {
			return fmt.Errorf("field %s: an enum needs Values", f.Name)
		}
	case Ref:
		if f.RefKind == "" || (f.RefName != "" && f.RefPath == "") {
			return fmt.Errorf("field %s: a reference needs RefKind (and RefPath for its entityRef)", f.Name)
		}
	case Nested:
		for i := range f.Fields {
			if err := checkField(fd.Message(), &f.Fields[i]); err != nil {
				return fmt.Errorf("%s.%w", f.Name, err)
			}
		}
	}
	return nil
}
