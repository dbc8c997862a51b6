package resource

import (
	"encoding/json"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// omit is the value a field renders to when it is left out.
type omitted struct{}

var omit = omitted{}

// BaseEntity renders the fields every entity shares; path is the entity's
// collection path ("identities").
func BaseEntity(rec *fsm.Record, path string) map[string]any {
	tags := rec.Tags
	if tags == nil {
		tags = map[string]any{}
	}
	return map[string]any{
		"id":        rec.ID,
		"createdAt": api.Time(rec.CreatedAt),
		"updatedAt": api.Time(rec.UpdatedAt),
		"tags":      tags,
		"_links":    api.Links("./" + path + "/" + rec.ID),
	}
}

// EntityRef renders a reference to another entity.
func EntityRef(path, id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "entity": path, "_links": api.Links("./" + path + "/" + id)}
}

// NameOf is the name of the entity of kind with id, or "" if it is gone or
// has no name.
func NameOf(rd *fsm.Reader, kind, id string) string {
	rec, err := rd.Get(kind, id)
	if err != nil {
		return ""
	}
	m := rec.Body.ProtoReflect()
	if fd := m.Descriptor().Fields().ByName("name"); fd != nil && fd.Kind() == protoreflect.StringKind {
		return m.Get(fd).String()
	}
	return ""
}

// renderFields adds the rendered fields of msg to out.
func renderFields(rd *fsm.Reader, rec *fsm.Record, fields []Field, msg protoreflect.Message, out map[string]any) {
	for i := range fields {
		f := &fields[i]
		if !f.rendered() {
			continue
		}
		v := renderField(rd, rec, f, msg)
		if v == omit {
			continue
		}
		out[f.Name] = v
		if f.Type == Ref && f.RefName != "" {
			if id, _ := v.(string); id != "" {
				out[f.RefName] = EntityRef(f.RefPath, id, NameOf(rd, f.RefKind, id))
			} else if f.Nullable {
				out[f.RefName] = nil
			}
		}
	}
}

// empty renders an empty value: null, left out, or the type's empty value.
func (f *Field) empty(zero any) any {
	switch {
	case f.OmitEmpty:
		return omit
	case f.Nullable:
		return nil
	}
	return zero
}

func renderField(rd *fsm.Reader, rec *fsm.Record, f *Field, msg protoreflect.Message) any {
	if f.Get != nil {
		return f.Get(rd, rec)
	}
	fd := msg.Descriptor().Fields().ByName(protoreflect.Name(f.Proto))
	if fd == nil {
		return omit
	}
	v := msg.Get(fd)
	switch f.Type {
	case String, Enum, Ref:
		s := v.String()
		if s == "" {
			if f.Default != "" {
				return f.Default
			}
			return f.empty("")
		}
		return s
	case Bool:
		return v.Bool()
	case Int:
		return v.Int()
	case DateTime:
		if v.Int() == 0 {
			return f.empty(api.Time(time.Unix(0, 0)))
		}
		return api.Time(time.Unix(0, v.Int()))
	case Strings:
		l := v.List()
		if l.Len() == 0 {
			return f.empty([]string{})
		}
		out := make([]string, l.Len())
		for i := range out {
			out[i] = l.Get(i).String()
		}
		return out
	case Object, TagMap:
		if len(v.Bytes()) == 0 {
			return f.empty(map[string]any{})
		}
		return json.RawMessage(v.Bytes())
	case IntMap, EnumMap:
		out := map[string]any{}
		v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
			out[k.String()] = mv.Interface()
			return true
		})
		if len(out) == 0 {
			return f.empty(out)
		}
		return out
	case Nested:
		if !msg.Has(fd) {
			return f.empty(map[string]any{})
		}
		out := map[string]any{}
		renderFields(rd, rec, f.Fields, v.Message(), out)
		return out
	}
	return omit
}

// filterValue is a field's value as the filter language sees it; ok is
// false when an optional field is empty (isEmpty matches it).
func filterValue(rd *fsm.Reader, rec *fsm.Record, f *Field) (any, bool) {
	if f.Get != nil {
		return f.Get(rd, rec), true
	}
	msg := rec.Body.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(protoreflect.Name(f.Proto))
	if fd == nil {
		return nil, false
	}
	v := msg.Get(fd)
	switch f.Type {
	case String, Enum, Ref:
		s := v.String()
		if s == "" && f.Default != "" {
			return f.Default, true
		}
		return s, s != "" || !(f.Nullable || f.OmitEmpty)
	case Bool:
		return v.Bool(), true
	case Int:
		return v.Int(), true
	case DateTime:
		if v.Int() == 0 {
			return nil, false
		}
		return time.Unix(0, v.Int()).UTC(), true
	case Strings:
		l := v.List()
		out := make([]string, l.Len())
		for i := range out {
			out[i] = l.Get(i).String()
		}
		return out, true
	}
	return nil, false
}
