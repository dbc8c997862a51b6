package resource

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// readFields reads the declared fields of a body into msg and returns the
// proto names of the fields it set. On create and PUT every writable field
// is set (absent ones to their zero value); on PATCH only those present.
// prefix qualifies field names in errors ("externalIdClaim.").
func readFields(mode Mode, in api.Object, fields []Field, msg protoreflect.Message, prefix string) ([]string, *api.Error) {
	var set []string
	for i := range fields {
		f := &fields[i]
		if !f.writable(mode) {
			continue
		}
		changed, aerr := readField(mode, in, f, msg, prefix)
		if aerr != nil {
			return nil, aerr
		}
		if changed && f.Proto != "" {
			set = append(set, f.Proto)
		}
	}
	return set, nil
}

// readField reads one field; changed reports whether msg's field was set
// (or cleared). null sets an optional field's zero value, as OpenZiti does
// (a CA's "isAuthEnabled": null in a PATCH switches it off); fields that
// must never be empty say NotNull.
func readField(mode Mode, in api.Object, f *Field, msg protoreflect.Message, prefix string) (bool, *api.Error) {
	name := f.inputName()
	qualified := prefix + name
	required := f.Required&mode.need() != 0
	present, null := in.Has(name), in.IsNull(name)
	switch {
	case !present && required:
		return false, api.Invalid(qualified, qualified+" is required", nil)
	case null && (required || f.NotNull):
		return false, api.Invalid(qualified, qualified+" must not be null", nil)
	case !present && mode == Patch:
		return false, nil
	}
	var fd protoreflect.FieldDescriptor
	if f.Proto != "" {
		fd = msg.Descriptor().Fields().ByName(protoreflect.Name(f.Proto))
	}
	if !present || null {
		// Absent from a create or PUT body, or null: the zero value.
		if fd != nil {
			msg.Clear(fd)
		}
		return fd != nil, nil
	}
	v, aerr := parseValue(mode, in, f, name, msg, fd)
	if aerr != nil {
		return false, api.PrefixField(prefix, aerr)
	}
	if fd == nil {
		return false, nil // validated only; a hook uses it
	}
	if !v.IsValid() {
		return false, nil // a nested PATCH object that changes nothing
	}
	msg.Set(fd, v)
	if isEmptyValue(fd, v) {
		msg.Clear(fd)
	}
	return true, nil
}

func isEmptyValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch {
	case fd.IsList():
		return v.List().Len() == 0
	case fd.IsMap():
		return v.Map().Len() == 0
	}
	return false
}

// parseValue reads a present, non-null member as the field's type. fd may
// be nil (a field only validated); an invalid Value with no error means
// "nothing to set".
func parseValue(mode Mode, in api.Object, f *Field, name string, msg protoreflect.Message, fd protoreflect.FieldDescriptor) (protoreflect.Value, *api.Error) {
	switch f.Type {
	case String:
		s, _, aerr := in.String(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		if s == "" && f.Required&Always != 0 && f.Default == "" {
			return protoreflect.Value{}, api.Invalid(name, name+" must not be empty", s)
		}
		return protoreflect.ValueOfString(s), checkText(f, name, s)
	case Enum:
		s, _, aerr := in.String(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		if !slices.Contains(f.Values, s) {
			return protoreflect.Value{}, api.Invalid(name, "must be one of "+strings.Join(f.Values, ", "), s)
		}
		return protoreflect.ValueOfString(s), nil
	case Ref:
		s, _, aerr := in.String(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		if s == "" && f.Required&mode.need() != 0 {
			return protoreflect.Value{}, api.Invalid(name, name+" is required", nil)
		}
		return protoreflect.ValueOfString(s), checkText(f, name, s)
	case Bool:
		b, _, aerr := in.Bool(name)
		return protoreflect.ValueOfBool(b), aerr
	case Int:
		lo, hi := f.intRange()
		n, _, aerr := in.Int(name, lo, hi)
		return protoreflect.ValueOfInt64(n), aerr
	case DateTime:
		t, _, aerr := in.Time(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		// Unix nanoseconds hold the years 1678 to 2262.
		if t.Before(time.Unix(0, 0)) || t.After(time.Unix(0, math.MaxInt64)) {
			return protoreflect.Value{}, api.Invalid(name, "must be between 1970 and 2262", api.Time(t))
		}
		return protoreflect.ValueOfInt64(t.UnixNano()), nil
	case Strings:
		items, _, aerr := in.Strings(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		if len(items) > DefaultMaxItems {
			return protoreflect.Value{}, api.Invalid(name, fmt.Sprintf("must have at most %d elements", DefaultMaxItems), nil)
		}
		for _, s := range items {
			if aerr := checkText(f, name, s); aerr != nil {
				return protoreflect.Value{}, aerr
			}
		}
		if fd == nil {
			return protoreflect.Value{}, nil
		}
		l := msg.NewField(fd).List()
		for _, s := range items {
			l.Append(protoreflect.ValueOfString(s))
		}
		return protoreflect.ValueOfList(l), nil
	case Object:
		raw, _, aerr := in.FreeObject(name, f.limits())
		return protoreflect.ValueOfBytes(raw), aerr
	case TagMap:
		m, _, aerr := in.Tags(name)
		if aerr != nil {
			return protoreflect.Value{}, aerr
		}
		if len(m) > DefaultMaxItems {
			return protoreflect.Value{}, api.Invalid(name, fmt.Sprintf("must have at most %d members", DefaultMaxItems), nil)
		}
		raw, err := json.Marshal(m) // sorted keys: the same bytes on every node
		if err != nil {
			return protoreflect.Value{}, api.Invalid(name, err.Error(), nil)
		}
		if len(m) == 0 {
			raw = nil
		}
		return protoreflect.ValueOfBytes(raw), nil
	case IntMap, EnumMap:
		return parseMap(in, f, name, msg, fd)
	case Nested:
		return parseNested(mode, in, f, name, msg, fd)
	}
	return protoreflect.Value{}, api.Unhandled(fmt.Errorf("field %s has unknown type %v", name, f.Type))
}

func (f *Field) intRange() (int64, int64) {
	if f.Min == 0 && f.Max == 0 {
		return math.MinInt64, math.MaxInt64
	}
	return f.Min, f.Max
}

// checkText bounds a string's length and refuses NUL (it separates keys
// from ids in the store's indexes).
func checkText(f *Field, name, s string) *api.Error {
	maxLen := f.Max
	if maxLen == 0 {
		maxLen = DefaultMaxString
	}
	if int64(len(s)) > maxLen {
		return api.Invalid(name, fmt.Sprintf("must be at most %d bytes long", maxLen), nil)
	}
	if f.Type == String && int64(len(s)) < f.Min {
		return api.Invalid(name, fmt.Sprintf("must be at least %d bytes long", f.Min), nil)
	}
	if bad := api.BadText(s); bad != "" {
		return api.Invalid(name, bad, nil)
	}
	return nil
}

// parseMap reads an IntMap or EnumMap.
func parseMap(in api.Object, f *Field, name string, msg protoreflect.Message, fd protoreflect.FieldDescriptor) (protoreflect.Value, *api.Error) {
	obj, _, aerr := in.Object(name)
	if aerr != nil {
		return protoreflect.Value{}, aerr
	}
	if len(obj) > DefaultMaxItems {
		return protoreflect.Value{}, api.Invalid(name, fmt.Sprintf("must have at most %d members", DefaultMaxItems), nil)
	}
	var m protoreflect.Map
	if fd != nil {
		m = msg.NewField(fd).Map()
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys) // errors name the same member whatever the map order
	for _, k := range keys {
		if k == "" || api.BadText(k) != "" || len(k) > DefaultMaxString {
			return protoreflect.Value{}, api.Invalid(name, "member names must be non-empty text", k)
		}
		var v protoreflect.Value
		if f.Type == IntMap {
			lo, hi := f.intRange()
			n, ok, aerr := obj.Int(k, lo, hi)
			if aerr == nil && !ok {
				aerr = api.Invalid(k, "must be an integer", nil)
			}
			if aerr != nil {
				return protoreflect.Value{}, api.PrefixField(name+".", aerr)
			}
			v = protoreflect.ValueOfInt64(n)
		} else {
			s, ok, aerr := obj.String(k)
			if aerr == nil && (!ok || !slices.Contains(f.Values, s)) {
				aerr = api.Invalid(k, "must be one of "+strings.Join(f.Values, ", "), s)
			}
			if aerr != nil {
				return protoreflect.Value{}, api.PrefixField(name+".", aerr)
			}
			v = protoreflect.ValueOfString(s)
		}
		if m != nil {
			m.Set(protoreflect.ValueOfString(k).MapKey(), v)
		}
	}
	if m == nil {
		return protoreflect.Value{}, nil
	}
	return protoreflect.ValueOfMap(m), nil
}

// parseNested reads a Nested object. A PATCH merges the members given into
// the current value, so {} changes nothing (the ziti CLI sends
// "externalIdClaim": {} with every update of a CA); create and PUT replace
// it as a whole.
func parseNested(mode Mode, in api.Object, f *Field, name string, msg protoreflect.Message, fd protoreflect.FieldDescriptor) (protoreflect.Value, *api.Error) {
	obj, _, aerr := in.Object(name)
	if aerr != nil {
		return protoreflect.Value{}, aerr
	}
	sub := msg.NewField(fd).Message()
	if mode == Patch {
		if len(obj) == 0 {
			return protoreflect.Value{}, nil
		}
		if msg.Has(fd) {
			sub = proto.Clone(msg.Get(fd).Message().Interface()).ProtoReflect()
		}
	}
	if _, aerr := readFields(mode, obj, f.Fields, sub, name+"."); aerr != nil {
		return protoreflect.Value{}, aerr
	}
	return protoreflect.ValueOfMessage(sub), nil
}
