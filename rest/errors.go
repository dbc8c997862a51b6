package rest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Error codes of the API's error envelope. Where OpenZiti has a code for
// the same situation we use its spelling, so SDKs that switch on codes work.
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

// APIError is an error answered in the error envelope.
type APIError struct {
	Status       int
	Code         string
	Message      string
	Cause        *FieldError
	CauseMessage string
}

func (e *APIError) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s (%s: %s)", e.Code, e.Message, e.Cause.Field, e.Cause.Reason)
	}
	return e.Code + ": " + e.Message
}

func isNotFound(err error) bool { return errors.Is(err, fsm.ErrNotFound) }

func errNotFound() *APIError {
	return &APIError{Status: http.StatusNotFound, Code: CodeNotFound,
		Message: "The resource requested was not found or is no longer available"}
}

func errUnauthorized() *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
		Message: "The request could not be completed. The session is not authorized or the credentials are invalid"}
}

func errInvalidAuth() *APIError {
	return &APIError{Status: http.StatusUnauthorized, Code: CodeInvalidAuth, Message: "The authentication request failed"}
}

// errField is a 400 naming the field at fault.
func errField(field, reason string, value any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotValidate,
		Message: "The supplied request contains an invalid document",
		Cause:   &FieldError{Field: field, Reason: reason, Value: value}, CauseMessage: field + ": " + reason}
}

func errBody(err error) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotParseBody,
		Message: "The body of the request could not be parsed", CauseMessage: err.Error()}
}

func errUnhandled(err error) *APIError {
	return &APIError{Status: http.StatusInternalServerError, Code: CodeUnhandled,
		Message: "An unhandled error occurred", CauseMessage: err.Error()}
}

// fromCluster maps errors of a replicated write to API errors. Writes that
// did not happen because the cluster is between leaders are a retryable
// 503, never a 500.
func fromCluster(err error) *APIError {
	var ae *APIError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, cluster.ErrNoLeader):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeClusterHasNoLeader,
			Message: "The cluster has no leader at the moment; retry the request", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrUnknownOutcome):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeTimeout,
			Message: "The cluster did not confirm the write in time; check and retry", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrNotFound), errors.Is(err, cluster.ErrUnknownKey):
		return errNotFound()
	case errors.Is(err, cluster.ErrKeyHolderUnavailable):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeControllerUnavailable,
			Message: "The controller holding that key cannot be reached at the moment; retry the request", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrNotMember):
		return &APIError{Status: http.StatusServiceUnavailable, Code: CodeNotAMember,
			Message: "This node is no longer a member of the cluster; use another node", CauseMessage: err.Error()}
	case errors.Is(err, cluster.ErrInvalid):
		return &APIError{Status: http.StatusBadRequest, Code: CodeCouldNotValidate,
			Message: "The request cannot be carried out by the cluster", CauseMessage: err.Error()}
	}
	return errUnhandled(err)
}

// fromResult maps a state-machine constraint violation to an API error.
func fromResult(res *pb.Result) *APIError {
	switch res.GetCode() {
	case pb.Result_OK:
		return nil
	case pb.Result_NOT_FOUND:
		return errNotFound()
	case pb.Result_CONFLICT:
		// OpenZiti reports a taken unique value as a field validation error.
		return errField(res.GetField(), res.GetMessage(), res.GetValue())
	case pb.Result_REFERENCE_MISSING:
		return errField(res.GetField(), res.GetMessage(), res.GetValue())
	case pb.Result_REFERENCED:
		return &APIError{Status: http.StatusConflict, Code: CodeConflict, Message: res.GetMessage()}
	}
	return errField(res.GetField(), res.GetMessage(), res.GetValue())
}
