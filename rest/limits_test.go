package rest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// Requests without a session beyond the bound are answered 429 at once,
// and a slot frees when its request ends.
func TestPublicRequestsInFlightAreBounded(t *testing.T) {
	s := &Server{public: make(chan struct{}, 2)}
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := s.limitPublic(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	done := make(chan int, 2)
	for range 2 {
		go func() {
			rec := httptest.NewRecorder()
			h(rec, httptest.NewRequest(http.MethodPost, "/edge/client/v1/authenticate", nil))
			done <- rec.Code
		}()
	}
	<-entered
	<-entered
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodPost, "/edge/client/v1/authenticate", nil))
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("a third request in flight: %d", rec.Code)
	}
	if _, err := api.ParseObject(rec.Body.Bytes()); err != nil {
		t.Fatalf("the 429 is not the error envelope: %s", rec.Body)
	}
	close(release)
	for range 2 {
		if code := <-done; code != http.StatusOK {
			t.Fatalf("a request within the bound: %d", code)
		}
	}
	rec = httptest.NewRecorder()
	go func() { <-entered }()
	h(rec, httptest.NewRequest(http.MethodPost, "/edge/client/v1/authenticate", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("after the others ended: %d", rec.Code)
	}
}
