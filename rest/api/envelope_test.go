package api

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http/httptest"
	"testing"
	"time"
)

// WriteJSON encodes with goccy/go-json for speed; its bytes must stay what
// encoding/json (HTML escaping off) writes for the values handlers render,
// so a library upgrade that changes them fails here.
func TestWriteJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		map[string]any{
			"name": "a<b>&c \u2028 \"q\" \\ é 😀 \x01", "z": nil, "a": true, "n": int64(math.MaxInt64),
			"f": 0.1, "big": 1e21, "neg": -3, "time": Time(time.Unix(0, 1_500_000_123).UTC()),
			"list": []string{}, "nilList": []string(nil), "nested": []map[string]any{{"b": 1, "a": []any{"x", 2.5, false}}},
			"raw": json.RawMessage(`{"k":[1,2]}`), "empty": map[string]any{},
		},
		dataEnvelope{Data: []map[string]any{{"id": "x", "_links": Links("./x")}}, Meta: Meta{}},
		&FieldError{Field: "f", Reason: "r", Value: []any{"v", 1}}, FieldError{Field: "g"},
	}
	for i, v := range values {
		rec := httptest.NewRecorder()
		WriteJSON(rec, 200, v)
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		if got := rec.Body.String(); got != want.String() {
			t.Errorf("value %d:\n got %s\nwant %s", i, got, want.String())
		}
	}
}
