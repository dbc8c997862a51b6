package rest

import (
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// How MFA codes are taken (the endpoints are in rest/mfa.go): one at a
// time per session on a node (codeTurn), each spent once across the
// cluster through Raft (fsm.MfaCodeUsed) behind a guard that the
// enrollment read is still the one in force (fsm.MfaExpect), and every
// well-formed wrong one counted on the session (fsm.MfaFailed) until the
// fifth ends it.

func noMfa() *api.Error {
	return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: "The identity has no MFA enrollment"}
}

func invalidMfaCode() *api.Error {
	return &api.Error{Status: http.StatusUnauthorized, Code: codeMfaInvalidToken, Message: "The MFA code is invalid or was already used"}
}

// OpenZiti's codes for a wrong MFA code, an enrollment that exists, and
// none.
const (
	codeMfaInvalidToken = "MFA_INVALID_TOKEN"
	codeMfaExists       = "MFA_EXISTS"
	codeMfaNotEnrolled  = "MFA_NOT_ENROLLED"
)

// mfaCode reads {"code": "..."} from the body.
func mfaCode(r *http.Request) (string, *api.Error) {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return "", aerr
	}
	code, _, aerr := in.String("code")
	if aerr != nil {
		return "", aerr
	}
	if code == "" || len(code) > 64 {
		return "", api.Invalid("code", "is required: a six-digit code or a recovery code", nil)
	}
	return code, nil
}

// takeCode checks code against the caller's enrollment m and returns the
// op that spends it: a current TOTP code, or, when recovery is allowed, an
// unused recovery code (the op fails the command if another node spent it
// first). A code that matches nothing is refused (refuseCode).
func (s *Server) takeCode(r *http.Request, m *pb.Mfa, code string, recovery bool) (*pb.Op, *api.Error) {
	identityID := callerOf(r).identity.ID
	if step, ok := edge.TotpStep(m.GetSecret(), code, time.Now()); ok {
		if step <= m.GetLastStep() {
			return nil, s.refuseCode(r, code)
		}
		return fsm.MfaCodeUsedOp(identityID, step, ""), nil
	}
	if recovery && m.GetIsVerified() && edge.LooksLikeRecoveryCode(code) {
		return fsm.MfaCodeUsedOp(identityID, 0, edge.HashRecoveryCode(code)), nil
	}
	return nil, s.refuseCode(r, code)
}

// applyWithCode replicates ops after spend (if any), guarded by the
// enrollment m the request read (fsm.MfaExpect: still that one, in the same
// state); a code another node spent first (or an unknown recovery code) is
// a wrong code.
func (s *Server) applyWithCode(r *http.Request, m *pb.Mfa, spend *pb.Op, ops ...*pb.Op) *api.Error {
	guarded := []*pb.Op{fsm.MfaExpectOp(callerOf(r).identity.ID, m)}
	if spend != nil {
		guarded = append(guarded, spend)
	}
	res, aerr := s.applyResult(r, append(guarded, ops...)...)
	if aerr != nil {
		return aerr
	}
	switch {
	case res.GetCode() == pb.Result_OK:
		return nil
	case codeRefused(res, spend != nil):
		return s.wrongMfaCode(r)
	}
	return codeFailure(res)
}

// codeRefused: a failed result of applyWithCode's command is its code's
// refusal (op 1, the spend, when there is one).
func codeRefused(res *pb.Result, spent bool) bool {
	return spent && res.GetOpIndex() == 1 && res.GetCode() != pb.Result_OK && res.GetCode() != pb.Result_KEY_REUSED
}

// codeFailure answers any other failed result of applyWithCode's command:
// its guard (op 0) failed, or the request's key was reused (which fails
// before any op, at index 0 too).
func codeFailure(res *pb.Result) *api.Error {
	if res.GetOpIndex() == 0 && res.GetCode() != pb.Result_KEY_REUSED {
		return enrollmentChanged()
	}
	return api.FromResult(res)
}

// retriedCode is Store.Retried for a request that takes an MFA code: retry
// is false unless an earlier attempt (the same client-chosen
// Idempotency-Key) applied the request's command already, and aerr is
// that attempt's answer, nil when it succeeded; a retry must not be judged
// against the enrollment that attempt changed, where its code is spent.
// Ask it in the session's turn (codeTurn), once the body is read and after
// the enrollment is read: an attempt applied between the two reads is then
// remembered here, or absent from both, and the request's write is
// deduplicated onto it. The result is mapped as applyWithCode maps it,
// without counting a refused code again (the first attempt counted it).
func (s *Server) retriedCode(r *http.Request) (retry bool, aerr *api.Error) {
	res, err := s.remembered(r)
	if err != nil {
		return true, api.Unhandled(err)
	}
	switch {
	case res == nil:
		return false, nil
	case res.GetCode() == pb.Result_OK:
		return true, nil
	case codeRefused(res, true): // op 1 of a command without a spend is a delete the guard made sure of
		return true, invalidMfaCode()
	}
	return true, codeFailure(res)
}

// refuseCode answers a code that did not match: counted (wrongMfaCode) if
// it has the shape of a code; one of neither shape (six digits, a
// recovery code) cannot be right, and is answered alike without changing
// anything.
func (s *Server) refuseCode(r *http.Request, code string) *api.Error {
	if !wellFormedCode(code) {
		return invalidMfaCode()
	}
	return s.wrongMfaCode(r)
}

// codeTurn serialises the MFA codes of the caller's session on this node
// and reads the session again when it is this request's turn: a session
// ended by its fifth wrong code takes no more codes, however many were
// sent at once. It returns the unlock.
func (s *Server) codeTurn(r *http.Request) (func(), *api.Error) {
	c := callerOf(r)
	unlock, err := s.passwordChecks.lock(r.Context(), "mfa\x00"+c.session.ID)
	if err != nil {
		return nil, busyKey()
	}
	rec, err := s.store.Get(fsm.KindApiSession, c.session.ID)
	if err != nil || rec.Body.(*pb.ApiSession).GetMfaFailures() >= maxMfaFailures {
		unlock()
		return nil, api.Unauthorized()
	}
	return unlock, nil
}

// wellFormedCode: six digits, or the shape of a recovery code.
func wellFormedCode(code string) bool {
	if len(code) == 6 {
		for _, c := range code {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return edge.LooksLikeRecoveryCode(code)
}

// enrollmentChanged: the enrollment a request read was replaced, verified
// or deleted before its write (MfaExpect).
func enrollmentChanged() *api.Error {
	return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Message: "The MFA enrollment changed meanwhile; read it again"}
}

// maxMfaFailures is how many wrong MFA codes an API session may give: at
// that many it is ended, and guessing on costs a new password login.
const maxMfaFailures = 5

// wrongMfaCode counts a wrong code against the caller's session (through
// Raft, so the count holds on every node) and answers 401; if the count
// cannot be replicated the answer is that error instead, so no guess goes
// uncounted.
func (s *Server) wrongMfaCode(r *http.Request) *api.Error {
	// Aside from the request's commands: a retry (the same
	// Idempotency-Key) must not find the count's OK as if its code had
	// been taken, and each attempt's guess counts.
	res, aerr := s.applyAside(r, fsm.MfaFailedOp(callerOf(r).session.ID, maxMfaFailures))
	if aerr != nil {
		return aerr
	}
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	return invalidMfaCode()
}
