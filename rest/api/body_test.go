package api

import (
	"net/http"
	"strings"
	"testing"
)

func TestCheckJSONRefusesWhatEncodingJSONWouldBend(t *testing.T) {
	for name, c := range map[string]struct{ body, field string }{
		"duplicate member":        {`{"isAdmin":false,"isAdmin":true}`, "isAdmin"},
		"nested duplicate member": {`{"appData":{"a":1,"a":2}}`, "appData.a"},
		"invalid UTF-8":           {"{\"name\":\"a\xffb\"}", "name"},
		"lone surrogate escape":   {`{"name":"\ud800"}`, "name"},
		"two values":              {`{"a":1} {"a":2}`, ""},
		"trailing garbage":        {`{"a":1} x`, ""},
		"truncated":               {`{"a":`, "a"},
	} {
		aerr := CheckJSON([]byte(c.body))
		if aerr == nil {
			t.Errorf("%s: accepted %q", name, c.body)
			continue
		}
		if aerr.Status != http.StatusBadRequest || aerr.Code != CodeCouldNotParseBody {
			t.Errorf("%s: %d %s", name, aerr.Status, aerr.Code)
		}
		got := ""
		if aerr.Cause != nil {
			got = aerr.Cause.Field
		}
		if got != c.field {
			t.Errorf("%s: field %q, want %q (%v)", name, got, c.field, aerr)
		}
	}
	for _, ok := range []string{`{}`, `{"name":"é ✓ \u00e9 \ud83d\ude00"}`, ` {"a":[1,2,{"b":null}]} `} {
		if aerr := CheckJSON([]byte(ok)); aerr != nil {
			t.Errorf("refused %q: %v", ok, aerr)
		}
	}
}

func TestObjectGettersAreStrict(t *testing.T) {
	o, aerr := ParseObject([]byte(`{"n":"12","f":1.5,"big":1e3,"i":12,"neg":-3,"s":5,"b":"true","arr":["a",1],"nul":null,
		"tags":{"k":1},"nested":[],"t":"yesterday","obj":{"a":{"b":{"c":1}}}}`))
	if aerr != nil {
		t.Fatal(aerr)
	}
	fails := map[string]func() *Error{
		"integer as string": func() *Error { _, _, e := o.Int("n", 0, 100); return e },
		"integer with frac": func() *Error { _, _, e := o.Int("f", 0, 100); return e },
		"exponent":          func() *Error { _, _, e := o.Int("big", 0, 10000); return e },
		"out of range":      func() *Error { _, _, e := o.Int("neg", 0, 100); return e },
		"string as number":  func() *Error { _, _, e := o.String("s"); return e },
		"bool as string":    func() *Error { _, _, e := o.Bool("b"); return e },
		"mixed array":       func() *Error { _, _, e := o.Strings("arr"); return e },
		"number tag":        func() *Error { _, _, e := o.Tags("tags"); return e },
		"array as object":   func() *Error { _, _, e := o.Object("nested"); return e },
		"bad time":          func() *Error { _, _, e := o.Time("t"); return e },
		"too deep": func() *Error {
			_, _, e := o.FreeObject("obj", Limits{MaxBytes: 100, MaxItems: 100, MaxDepth: 2})
			return e
		},
		"too many items": func() *Error {
			_, _, e := o.FreeObject("obj", Limits{MaxBytes: 100, MaxItems: 3, MaxDepth: 10})
			return e
		},
		"too many bytes": func() *Error {
			_, _, e := o.FreeObject("obj", Limits{MaxBytes: 10, MaxItems: 100, MaxDepth: 10})
			return e
		},
		"free object scalar": func() *Error {
			_, _, e := o.FreeObject("i", Limits{MaxBytes: 10, MaxItems: 100, MaxDepth: 10})
			return e
		},
	}
	for name, fn := range fails {
		e := fn()
		if e == nil || e.Code != CodeCouldNotValidate || e.Cause == nil || e.Cause.Field == "" {
			t.Errorf("%s: %v", name, e)
		}
	}
	if n, ok, e := o.Int("i", 0, 100); n != 12 || !ok || e != nil {
		t.Errorf("integer: %v %v %v", n, ok, e)
	}
	if _, ok, e := o.String("nul"); ok || e != nil {
		t.Errorf("null string: %v %v", ok, e)
	}
	if _, ok, e := o.String("absent"); ok || e != nil {
		t.Errorf("absent string: %v %v", ok, e)
	}
	if !o.IsNull("nul") || !o.Has("nul") || o.Has("absent") {
		t.Error("Has/IsNull")
	}
	if raw, ok, e := o.FreeObject("obj", Limits{MaxBytes: 100, MaxItems: 6, MaxDepth: 3}); !ok || e != nil || string(raw) != `{"a":{"b":{"c":1}}}` {
		t.Errorf("free object: %s %v %v", raw, ok, e)
	}
}

func TestParseObjectNeedsAnObject(t *testing.T) {
	for _, body := range []string{`[]`, `"x"`, `1`, `null`, `true`} {
		if _, aerr := ParseObject([]byte(body)); aerr == nil || aerr.Code != CodeCouldNotParseBody {
			t.Errorf("%s: %v", body, aerr)
		}
	}
	if o, aerr := ParseObject([]byte("  ")); aerr != nil || len(o) != 0 {
		t.Errorf("empty body: %v %v", o, aerr)
	}
}

// FuzzParseObject: no input makes the body parser panic, and whatever it
// accepts is an object whose members every getter reads without panicking.
func FuzzParseObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"a":2}`, `{"name":"x","tags":{"a":true},"n":5,"o":{"p":[1,2]}}`, "{\"a\":\"\xff\"}", `[`, `{"a":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, aerr := ParseObject(data)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest {
				t.Fatalf("status %d for %q", aerr.Status, data)
			}
			return
		}
		for name := range o {
			_, _, _ = o.String(name)
			_, _, _ = o.Bool(name)
			_, _, _ = o.Int(name, -1<<62, 1<<62)
			_, _, _ = o.Strings(name)
			_, _, _ = o.Tags(name)
			_, _, _ = o.Time(name)
			_, _, _ = o.FreeObject(name, Limits{MaxBytes: 1 << 10, MaxItems: 64, MaxDepth: 8})
			if strings.ContainsRune(name, 0xFFFD) && !strings.Contains(string(data), "\uFFFD") && !strings.Contains(string(data), `\ufffd`) && !strings.Contains(string(data), `\uFFFD`) {
				t.Fatalf("a member name gained U+FFFD: invalid UTF-8 got through: %q", data)
			}
		}
	})
}
