package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Error codes of the error envelope. Where OpenZiti has a code for the same
// situation we use its spelling, so SDKs that switch on codes work.
const (
	CodeNotFound           = "NOT_FOUND"
	CodeMethodNotAllowed   = "METHOD_NOT_ALLOWED"
	CodeUnauthorized       = "UNAUTHORIZED"
	CodeInvalidAuth        = "INVALID_AUTH"
	CodeInvalidAuthMethod  = "INVALID_AUTH_METHOD"
	CodeCouldNotValidate   = "COULD_NOT_VALIDATE"
	CodeCouldNotParseBody  = "COULD_NOT_PARSE_BODY"
	CodeConflict           = "CONFLICT"
	CodeUnhandled          = "UNHANDLED"
	CodeClusterHasNoLeader = "CLUSTER_HAS_NO_LEADER"
	CodeTimeout            = "TIMEOUT"
	CodeRateLimited        = "RATE_LIMITED"
	CodeNotAMember         = "CLUSTER_NODE_NOT_A_MEMBER"
	// CodeControllerUnavailable: the member that must answer (the holder
	// of a signing key) cannot be reached now; retry.
	CodeControllerUnavailable = "CONTROLLER_UNAVAILABLE"
	// CodeConflictReferenced: a delete refused because other entities
	// still use the target (the spec's cannotDeleteReferencedResource).
	CodeConflictReferenced = "CONFLICT_CANNOT_MODIFY_REFERENCED"
	CodeInvalidFilter      = "INVALID_FILTER"
	// CodeIdempotencyKeyReused: an Idempotency-Key sent again with a
	// different request (a 400: see FromResult).
	CodeIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
	CodeInvalidPagination    = "INVALID_PAGINATION"
)

// Error codes of enrollments and certificate requests, as OpenZiti spells them.
const (
	CodeInvalidEnrollmentToken    = "INVALID_ENROLLMENT_TOKEN"
	CodeEnrollmentExpired         = "ENROLLMENT_EXPIRED"
	CodeCouldNotProcessCSR        = "COULD_NOT_PROCESS_CSR"
	CodeMissingOrInvalidCSR       = "MISSING_OR_INVALID_CSR"
	CodeCanNotUpdateAuthenticator = "CAN_NOT_UPDATE_AUTHENTICATOR"
	CodeInvalidClientCert         = "INVALID_CLIENT_CERT"
)

// FieldError is the cause of a validation failure: which field, why, and
// the offending value.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
	Value  any    `json:"value,omitempty"`
}

// Error is an error answered in the error envelope.
type Error struct {
	Status       int
	Code         string
	Message      string
	Cause        *FieldError
	CauseMessage string
	// EmptyData adds "data": {} to the error envelope, for an operation
	// whose spec gives this status the empty envelope (POST
	// /authenticate/mfa's 401): the body then fits both.
	EmptyData bool
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s (%s: %s)", e.Code, e.Message, e.Cause.Field, e.Cause.Reason)
	}
	return e.Code + ": " + e.Message
}

// NotFound is the 404 of an id that names nothing.
func NotFound() *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: "The resource requested was not found or is no longer available"}
}

// Unauthorized is the 401 of a missing, expired or insufficient session.
func Unauthorized() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
		Message: "The request could not be completed. The session is not authorized or the credentials are invalid"}
}

// InvalidAuth is the 401 of a failed login.
func InvalidAuth() *Error {
	return &Error{Status: http.StatusUnauthorized, Code: CodeInvalidAuth, Message: "The authentication request failed"}
}

// Invalid is a 400 COULD_NOT_VALIDATE naming the field at fault.
func Invalid(field, reason string, value any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeCouldNotValidate,
		Message: "The supplied request contains an invalid document",
		Cause:   &FieldError{Field: field, Reason: reason, Value: value}, CauseMessage: field + ": " + reason}
}

// Conflict is a 409 CONFLICT.
func Conflict(message string) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: message}
}

// BadBody is a 400 COULD_NOT_PARSE_BODY.
func BadBody(err error) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeCouldNotParseBody,
		Message: "The body of the request could not be parsed", CauseMessage: err.Error()}
}

// Unhandled is a 500: a fault of this node, never of the input.
func Unhandled(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeUnhandled,
		Message: "An unhandled error occurred", CauseMessage: err.Error()}
}

// As passes API errors through and wraps anything else as a 500.
func As(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return Unhandled(err)
}

// NotFoundOr maps a store read error: fsm.ErrNotFound is a 404, anything
// else a 500.
func NotFoundOr(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, fsm.ErrNotFound):
		return NotFound()
	}
	return Unhandled(err)
}

// PrefixField qualifies the field of a nested object's validation error
// ("location" becomes "externalIdClaim.location").
func PrefixField(prefix string, e *Error) *Error {
	if e != nil && e.Cause != nil {
		e.Cause.Field = prefix + e.Cause.Field
		e.CauseMessage = prefix + e.CauseMessage
	}
	return e
}

// FromCluster maps errors of a replicated write to API errors. Writes that
// did not happen because the cluster is between leaders are a retryable
// 503, never a 500.
func FromCluster(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, cluster.ErrNoLeader):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeClusterHasNoLeader,
			Message: "The cluster has no leader at the moment; retry the request", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrUnknownOutcome):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeTimeout,
			Message: "The cluster did not confirm the write in time; check and retry", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrNotFound), errors.Is(err, cluster.ErrUnknownKey):
		return NotFound()
	case errors.Is(err, cluster.ErrKeyHolderUnavailable):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeControllerUnavailable,
			Message: "The controller holding that key cannot be reached at the moment; retry the request", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrNotMember):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeNotAMember,
			Message: "This node is no longer a member of the cluster; use another node", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeCouldNotValidate,
			Message: "The request cannot be carried out by the cluster", CauseMessage: err.Error()}
	}
	return Unhandled(err)
}

// FromResult maps a state-machine constraint violation to an API error.
func FromResult(res *pb.Result) *Error {
	switch res.GetCode() {
	case pb.Result_OK:
		return nil
	case pb.Result_NOT_FOUND:
		return NotFound()
	case pb.Result_CONFLICT:
		// OpenZiti reports a taken unique value as a field validation error.
		return Invalid(res.GetField(), res.GetMessage(), res.GetValue())
	case pb.Result_REFERENCE_MISSING:
		return Invalid(res.GetField(), res.GetMessage(), res.GetValue())
	case pb.Result_KEY_REUSED:
		// The IETF draft suggests 422; the Edge specs document 400 for
		// the writes and never 422, so a client's generated code knows it.
		return &Error{Status: http.StatusBadRequest, Code: CodeIdempotencyKeyReused,
			Cause:        &FieldError{Field: IdempotencyHeader, Reason: res.GetMessage()},
			Message:      "The " + IdempotencyHeader + " was already used for a different request; use a new key for a new request",
			CauseMessage: res.GetMessage()}
	case pb.Result_REFERENCED:
		return &Error{Status: http.StatusConflict, Code: CodeConflictReferenced,
			Message:      "The resource cannot be deleted/modified. Remove all referencing resources first.",
			CauseMessage: res.GetMessage()}
	}
	return Invalid(res.GetField(), res.GetMessage(), res.GetValue())
}
