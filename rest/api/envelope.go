package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"
	"github.com/gorilla/mux"
)

// Version is reported in meta of error envelopes, as OpenZiti does.
const Version = "0.0.1"

// Meta is the meta object of every envelope.
type Meta struct {
	APIVersion           string      `json:"apiVersion,omitempty"`
	APIEnrollmentVersion string      `json:"apiEnrollmentVersion,omitempty"`
	Pagination           *Pagination `json:"pagination,omitempty"`
	FilterableFields     []string    `json:"filterableFields,omitempty"`
}

// Pagination is meta.pagination of a list answer.
type Pagination struct {
	Limit      int64 `json:"limit"`
	Offset     int64 `json:"offset"`
	TotalCount int64 `json:"totalCount"`
}

type dataEnvelope struct {
	Data any  `json:"data"`
	Meta Meta `json:"meta"`
}

type errorBody struct {
	Code         string         `json:"code"`
	Message      string         `json:"message"`
	Cause        *FieldError    `json:"cause,omitempty"`
	CauseMessage string         `json:"causeMessage,omitempty"`
	Args         map[string]any `json:"args"`
	RequestID    string         `json:"requestId"`
}

type errorEnvelope struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error errorBody       `json:"error"`
	Meta  Meta            `json:"meta"`
}

type ctxKey int

const requestIDKey ctxKey = iota

// RequestID is the id WithRequestID gave the request ("" outside it).
func RequestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// WithRequestID gives every request an id, echoed in error bodies and in the
// X-Request-Id header, and carried into the Raft commands it causes.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := uuid.NewString()
		w.Header().Set("X-Request-Id", id)
		r = r.WithContext(WithID(r.Context(), id))
		r, ok := withIdempotency(w, r)
		if !ok {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func contextWith(r *http.Request, key, value any) context.Context {
	return context.WithValue(r.Context(), key, value)
}

// WithID returns ctx carrying a request id, for work no HTTP request
// started (background bookkeeping) that still replicates commands.
func WithID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// Handle adapts a handler that returns an error to http.HandlerFunc: the
// error is answered in the error envelope.
func Handle(fn func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			WriteError(w, r, err)
		}
	}
}

// WriteJSON answers v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// goccy/go-json: the same output as encoding/json with a tenth of its
	// allocations; lists of a few hundred entities spent a third of their
	// time encoding maps by reflection.
	enc := gojson.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// WriteData answers {data, meta}.
func WriteData(w http.ResponseWriter, status int, data any, m Meta) {
	WriteJSON(w, status, dataEnvelope{Data: data, Meta: m})
}

// WriteEncodedData answers {data, meta} with data already encoded as JSON
// (a list spliced from cached entities), which is written as it is. It
// writes nothing when meta cannot be encoded.
func WriteEncodedData(w http.ResponseWriter, status int, data []byte, m Meta) error {
	meta, err := gojson.MarshalNoEscape(m)
	if err != nil {
		return err
	}
	body := make([]byte, 0, len(data)+len(meta)+20)
	body = append(body, `{"data":`...)
	body = append(body, data...)
	body = append(body, `,"meta":`...)
	body = append(body, meta...)
	body = append(body, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// WriteEmpty answers the spec's "empty" envelope.
func WriteEmpty(w http.ResponseWriter) {
	WriteData(w, http.StatusOK, map[string]any{}, Meta{})
}

// WriteCreated answers the spec's createEnvelope for the entity id of the
// collection path ("identities").
func WriteCreated(w http.ResponseWriter, path, id string) {
	WriteData(w, http.StatusCreated, map[string]any{"id": id, "_links": Links("./" + path + "/" + id)}, Meta{})
}

// Links is the _links object with a self link.
func Links(self string) map[string]any {
	return map[string]any{"self": map[string]string{"href": self}}
}

// Time formats a timestamp as OpenZiti writes them: RFC 3339 with
// nanoseconds, in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// WriteError answers the error envelope for err; anything that is not an
// *Error is a 500.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		ae = Unhandled(err)
	}
	causeMessage := ae.CauseMessage
	if ae.Status >= 500 {
		// Internal detail (peer addresses, raft errors) is for the log, not
		// for an unauthenticated client; the request id ties them together.
		slog.Default().Warn("request failed", "requestId", RequestID(r), "status", ae.Status, "code", ae.Code, "detail", ae.CauseMessage)
		causeMessage = ""
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `zt-session realm="zt-session" error="invalid" error_description="the session is missing, expired or invalid"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="garrison" error="invalid_token" error_description="the access token is missing, expired or invalid"`)
	}
	vars := mux.Vars(r)
	if vars == nil {
		vars = map[string]string{}
	}
	var data json.RawMessage
	if ae.EmptyData {
		data = json.RawMessage("{}")
	}
	cause := ae.Cause
	// The fabric API's field error holds its value as a string (the Edge
	// APIs' holds any JSON value): anything else is sent as its JSON text.
	if cause != nil && strings.HasPrefix(r.URL.Path, "/fabric/") {
		if _, isString := cause.Value.(string); cause.Value != nil && !isString {
			c := *cause
			text, _ := json.Marshal(cause.Value)
			c.Value = string(text)
			cause = &c
		}
	}
	WriteJSON(w, ae.Status, errorEnvelope{
		Data: data,
		Error: errorBody{
			Code: ae.Code, Message: ae.Message, Cause: cause, CauseMessage: causeMessage,
			Args: map[string]any{"urlVars": vars}, RequestID: RequestID(r),
		},
		Meta: Meta{APIVersion: Version, APIEnrollmentVersion: Version},
	})
}
