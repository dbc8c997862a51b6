package api

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The fingerprint of a request with a client key is its method, target and
// whole body, however much of the body the handler read; without a key
// there is none.
func TestFingerprint(t *testing.T) {
	fp := func(method, target, body string, read int, key bool) []byte {
		t.Helper()
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		if key {
			r.Header.Set(IdempotencyHeader, "k")
		}
		r, ok := withIdempotency(httptest.NewRecorder(), r)
		if !ok {
			t.Fatal("key refused")
		}
		if _, err := io.CopyN(io.Discard, r.Body, int64(read)); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return Fingerprint(r)
	}
	body := `{"name":"a"}` + "\n"
	whole := fp(http.MethodPost, "/x", body, len(body), true)
	if got := fp(http.MethodPost, "/x", body, 3, true); !bytes.Equal(got, whole) {
		t.Fatal("a partly read body changed the fingerprint")
	}
	for _, other := range [][]byte{
		fp(http.MethodPost, "/x", `{"name":"b"}`+"\n", 100, true),
		fp(http.MethodPost, "/y", body, 100, true),
		fp(http.MethodPatch, "/x", body, 100, true),
		fp(http.MethodPost, "/x?a=1", body, 100, true),
	} {
		if bytes.Equal(other, whole) {
			t.Fatal("two different requests have one fingerprint")
		}
	}
	if got := fp(http.MethodPost, "/x", body, 100, false); got != nil {
		t.Fatalf("a request without a key has a fingerprint: %x", got)
	}
}
