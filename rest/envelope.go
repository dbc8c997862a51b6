package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
)

// apiVersion is reported in meta of error envelopes, as OpenZiti does.
const apiVersion = "0.0.1"

type meta struct {
	APIVersion           string      `json:"apiVersion,omitempty"`
	APIEnrollmentVersion string      `json:"apiEnrollmentVersion,omitempty"`
	Pagination           *pagination `json:"pagination,omitempty"`
	FilterableFields     []string    `json:"filterableFields,omitempty"`
}

type pagination struct {
	Limit      int64 `json:"limit"`
	Offset     int64 `json:"offset"`
	TotalCount int64 `json:"totalCount"`
}

type dataEnvelope struct {
	Data any  `json:"data"`
	Meta meta `json:"meta"`
}

type apiErrorBody struct {
	Code         string         `json:"code"`
	Message      string         `json:"message"`
	Cause        *FieldError    `json:"cause,omitempty"`
	CauseMessage string         `json:"causeMessage,omitempty"`
	Args         map[string]any `json:"args"`
	RequestID    string         `json:"requestId"`
}

type errorEnvelope struct {
	Error apiErrorBody `json:"error"`
	Meta  meta         `json:"meta"`
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	authKey
)

func requestID(r *http.Request) string {
	id, _ := r.Context().Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request an id, echoed in error bodies and in the
// X-Request-Id header, and carried into the Raft commands it causes.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := uuid.NewString()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeData answers {data, meta}.
func writeData(w http.ResponseWriter, status int, data any, m meta) {
	writeJSON(w, status, dataEnvelope{Data: data, Meta: m})
}

// writeEmpty answers the spec's "empty" envelope.
func writeEmpty(w http.ResponseWriter) {
	writeData(w, http.StatusOK, map[string]any{}, meta{})
}

// writeError answers the error envelope for err.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *APIError
	if !errors.As(err, &ae) {
		ae = errUnhandled(err)
	}
	causeMessage := ae.CauseMessage
	if ae.Status >= 500 {
		// Internal detail (peer addresses, raft errors) is for the log, not
		// for an unauthenticated client; the request id ties them together.
		slog.Default().Warn("request failed", "requestId", requestID(r), "status", ae.Status, "code", ae.Code, "detail", ae.CauseMessage)
		causeMessage = ""
	}
	if ae.Status == http.StatusUnauthorized {
		w.Header().Add("WWW-Authenticate", `zt-session realm="zt-session" error="invalid" error_description="the session is missing, expired or invalid"`)
		w.Header().Add("WWW-Authenticate", `Bearer realm="garrison" error="invalid_token" error_description="the access token is missing, expired or invalid"`)
	}
	writeJSON(w, ae.Status, errorEnvelope{
		Error: apiErrorBody{
			Code: ae.Code, Message: ae.Message, Cause: ae.Cause, CauseMessage: causeMessage,
			Args: map[string]any{"urlVars": urlVars(r)}, RequestID: requestID(r),
		},
		Meta: meta{APIVersion: apiVersion, APIEnrollmentVersion: apiVersion},
	})
}

// maxBody bounds request bodies; nothing in these APIs needs more.
const maxBody = 1 << 20

// decodeBody reads a JSON object into v. An empty body decodes as {}.
func decodeBody(r *http.Request, v any) *APIError {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errBody(err)
	}
	if len(data) > maxBody {
		return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotParseBody, Message: "The request body is too large"}
	}
	if len(data) == 0 {
		data = []byte("{}")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return errBody(errors.New("the body must be a JSON object"))
			}
			return errField(te.Field, "must be of type "+jsonTypeName(te.Type.Kind().String()), nil)
		}
		return errBody(err)
	}
	return nil
}

// jsonTypeName names a Go kind the way an API user thinks of JSON types.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}
