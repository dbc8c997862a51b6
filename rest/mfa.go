package rest

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// TOTP multi-factor authentication: the endpoints (taking codes is in
// rest/mfacodes.go, the session state in rest/auth.go). An identity enrolls
// (POST /current-identity/mfa), sees its secret as a provisioning URL or QR
// code and its recovery codes until it verifies a first code; from then on
// every login makes a partial API session, which may only call the routes
// marked partial until POST /authenticate/mfa takes a code. Every code is
// spent through Raft (fsm.MfaCodeUsed), so a code accepted on one node is
// refused on the others, and recovery codes are kept only as hashes once
// the enrollment is verified.

const mfaCodeHeader = "mfa-validation-code"

// mfaPath is where an enrollment lives, for its _links.
const mfaPath = "current-identity/mfa"

// loadMfa reads the caller's enrollment; fsm.ErrNotFound if there is none.
func (s *Server) loadMfa(identityID string) (*fsm.Record, *pb.Mfa, error) {
	rec, err := s.store.Get(fsm.KindMfa, identityID)
	if err != nil {
		return nil, nil, err
	}
	return rec, rec.Body.(*pb.Mfa), nil
}

// callerMfa reads the caller's enrollment: 404 if there is none.
func (s *Server) callerMfa(r *http.Request) (*caller, *fsm.Record, *pb.Mfa, *api.Error) {
	c := callerOf(r)
	rec, m, err := s.loadMfa(c.identity.ID)
	if errors.Is(err, fsm.ErrNotFound) {
		return c, nil, nil, noMfa()
	}
	if err != nil {
		return c, nil, nil, api.Unhandled(err)
	}
	return c, rec, m, nil
}

// newRecoveryCodes makes recovery codes and the hashes they are kept as.
func newRecoveryCodes() (codes, hashes []string, err error) {
	if codes, err = edge.NewRecoveryCodes(); err != nil {
		return nil, nil, err
	}
	hashes = make([]string, len(codes))
	for i, code := range codes {
		hashes[i] = edge.HashRecoveryCode(code)
	}
	return codes, hashes, nil
}

// currentMfa answers GET /current-identity/mfa.
func (s *Server) currentMfa(w http.ResponseWriter, r *http.Request) error {
	c, rec, m, aerr := s.callerMfa(r)
	if aerr != nil {
		return aerr
	}
	out := BaseEntity(rec, mfaPath)
	out["isVerified"] = m.GetIsVerified()
	if !m.GetIsVerified() {
		out["provisioningUrl"] = edge.TotpURL(m.GetSecret(), c.ident.GetName())
		out["recoveryCodes"] = m.GetPendingRecoveryCodes()
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// enrollMfa answers POST /current-identity/mfa: a new, unverified
// enrollment (409 if there is one).
func (s *Server) enrollMfa(w http.ResponseWriter, r *http.Request) error {
	if aerr := s.createMfa(r); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, mfaPath, callerOf(r).identity.ID)
	return nil
}

// createMfa replicates a new, unverified enrollment of the caller's
// identity (409 if there is one).
func (s *Server) createMfa(r *http.Request) *api.Error {
	c := callerOf(r)
	secret, err := edge.NewTotpSecret()
	if err != nil {
		return api.Unhandled(err)
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return api.Unhandled(err)
	}
	op, err := fsm.CreateOp(fsm.KindMfa, c.identity.ID, &pb.Mfa{
		IdentityId: c.identity.ID, Secret: secret, RecoveryCodeHashes: hashes, PendingRecoveryCodes: codes}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	res, aerr := s.applyResult(r, op)
	if aerr != nil {
		return aerr
	}
	if res.GetCode() == pb.Result_CONFLICT {
		return &api.Error{Status: http.StatusConflict, Code: codeMfaExists, Message: "The identity is already enrolled in MFA; delete the enrollment first"}
	}
	return api.FromResult(res)
}

// verifyMfa answers POST /current-identity/mfa/verify: a first TOTP code
// completes the enrollment, which from then on keeps only the hashes of
// its recovery codes; the session that verified counts as having passed.
func (s *Server) verifyMfa(w http.ResponseWriter, r *http.Request) error {
	code, aerr := mfaCode(r)
	if aerr == nil {
		aerr = s.verifyCode(r, code, true)
	}
	if aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// verifyMfaCode completes the caller's enrollment with its first code,
// and ops in the same command. A retry of a request that took effect is
// refused as a spent code: its caller, the OIDC login, answers a new
// authorization code, which only the command that stores it makes valid.
func (s *Server) verifyMfaCode(r *http.Request, code string, ops ...*pb.Op) *api.Error {
	return s.verifyCode(r, code, false, ops...)
}

// verifyCode is verifyMfaCode. A request whose earlier attempt was
// applied already gets that attempt's outcome (retriedCode), not a 404 for
// the enrollment it verified or a 401 for the code it spent, nor is it
// counted as a wrong code; with answerRetry false, a success is a 401.
func (s *Server) verifyCode(r *http.Request, code string, answerRetry bool, ops ...*pb.Op) *api.Error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	c, _, m, aerr := s.callerMfa(r)
	if retry, aerr := s.retriedCode(r); retry {
		return answeredOnce(aerr, answerRetry)
	}
	if aerr != nil {
		return aerr
	}
	if m.GetIsVerified() {
		return noMfa() // nothing left to verify, as OpenZiti answers
	}
	spend, aerr := s.takeCode(r, m, code, false)
	if aerr != nil {
		return aerr
	}
	verified, err := fsm.PatchOp(fsm.KindMfa, c.identity.ID, &pb.Mfa{IsVerified: true}, nil, "is_verified", "pending_recovery_codes")
	if err != nil {
		return api.Unhandled(err)
	}
	passed, err := mfaPassedOp(c.session.ID)
	if err != nil {
		return api.Unhandled(err)
	}
	return s.applyWithCode(r, m, spend, append([]*pb.Op{verified, passed}, ops...)...)
}

// deleteMfa answers DELETE /current-identity/mfa: a verified enrollment
// needs a code (TOTP or recovery) in the mfa-validation-code header; an
// unverified one goes without.
func (s *Server) deleteMfa(w http.ResponseWriter, r *http.Request) error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	c, _, m, aerr := s.callerMfa(r)
	// A retry finds no enrollment left: it answers the first outcome.
	if retry, aerr := s.retriedCode(r); retry {
		if aerr != nil {
			return aerr
		}
		api.WriteEmpty(w)
		return nil
	}
	if aerr != nil {
		return aerr
	}
	// An unverified enrollment goes without a code (spend nil); the guard
	// still refuses it if it was verified meanwhile.
	var spend *pb.Op
	if m.GetIsVerified() {
		if spend, aerr = s.takeCode(r, m, r.Header.Get(mfaCodeHeader), true); aerr != nil {
			return aerr
		}
	}
	if aerr := s.applyWithCode(r, m, spend, fsm.DeleteOp(fsm.KindMfa, c.identity.ID)); aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// mfaQRCode answers GET /current-identity/mfa/qr-code: the provisioning
// URL as a PNG, only until the enrollment is verified.
func (s *Server) mfaQRCode(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	_, m, err := s.loadMfa(c.identity.ID)
	if errors.Is(err, fsm.ErrNotFound) || (err == nil && m.GetIsVerified()) {
		// The spec gives this 404 no body.
		w.WriteHeader(http.StatusNotFound)
		return nil
	}
	if err != nil {
		return api.Unhandled(err)
	}
	png, err := edge.TotpQR(edge.TotpURL(m.GetSecret(), c.ident.GetName()))
	if err != nil {
		return api.Unhandled(err)
	}
	w.Header().Set("Content-Type", "image/png")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
	return nil
}

// mfaRecoveryCodes answers GET /current-identity/mfa/recovery-codes. Until
// the enrollment is verified it shows the codes (a TOTP code in the
// mfa-validation-code header); once verified only their hashes exist, so
// it answers 404 and POST makes new ones.
func (s *Server) mfaRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	_, rec, m, aerr := s.callerMfa(r)
	if aerr != nil {
		return aerr
	}
	if _, ok := edge.TotpStep(m.GetSecret(), r.Header.Get(mfaCodeHeader), time.Now()); !ok {
		return s.refuseCode(r, r.Header.Get(mfaCodeHeader))
	}
	if m.GetIsVerified() {
		return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound,
			Message: "Recovery codes are kept only as hashes once MFA is verified; POST to this path makes new ones and answers them once"}
	}
	out := BaseEntity(rec, mfaPath+"/recovery-codes")
	out["recoveryCodes"] = m.GetPendingRecoveryCodes()
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// newMfaRecoveryCodes answers POST /current-identity/mfa/recovery-codes
// {code} (TOTP or recovery): new recovery codes replace the old ones, answered once in
// data.recoveryCodes (the spec's empty object takes any members) and
// stored only as hashes.
func (s *Server) newMfaRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	code, aerr := mfaCode(r)
	if aerr != nil {
		return aerr
	}
	c, _, m, aerr := s.callerMfa(r)
	// A retry of a request that took effect cannot have its answer: only
	// the hashes of the codes it made are kept. Judged again, its code
	// would be spent (401), or a recovery code would make codes again.
	if retry, aerr := s.retriedCode(r); retry {
		if aerr == nil {
			aerr = recoveryCodesIssued()
		}
		return aerr
	}
	if aerr != nil {
		return aerr
	}
	if !m.GetIsVerified() {
		return api.Invalid("code", "verify the MFA enrollment first; its recovery codes are shown until then", nil)
	}
	spend, aerr := s.takeCode(r, m, code, true)
	if aerr != nil {
		return aerr
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return api.Unhandled(err)
	}
	replace, err := fsm.PatchOp(fsm.KindMfa, c.identity.ID, &pb.Mfa{RecoveryCodeHashes: hashes}, nil, "recovery_code_hashes")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.applyWithCode(r, m, spend, replace); aerr != nil {
		return aerr
	}
	// A retry sent while its first attempt was still being applied (its
	// client gave up on the answer) is deduplicated onto that attempt:
	// these codes were then never stored.
	if _, now, err := s.loadMfa(c.identity.ID); err == nil && !slices.ContainsFunc(hashes, func(h string) bool {
		return slices.Contains(now.GetRecoveryCodeHashes(), h)
	}) {
		return recoveryCodesIssued()
	}
	api.WriteData(w, http.StatusOK, map[string]any{"recoveryCodes": codes}, api.Meta{})
	return nil
}

// recoveryCodesIssued answers a retry of a request for new recovery codes
// that took effect: its codes went to the first attempt and cannot be
// shown again. The spec documents 200, 401 and 404 here, not 409: 404
// ("not found or no longer available") is what these codes are, and a
// client does not read it as a failed login, as it would a 401.
func recoveryCodesIssued() *api.Error {
	return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound,
		Message: "The recovery codes were issued to the first attempt of this request (the same " + api.IdempotencyHeader +
			") and are kept only as hashes, so they cannot be shown again; a new request with a new key makes new ones"}
}

// authenticateMfa answers POST /authenticate/mfa {code}: a TOTP or unused
// recovery code completes the caller's partial session. Its refusals are
// 401 (the spec's only error status here) with the error envelope plus the
// empty data the spec gives that status.
func (s *Server) authenticateMfa(w http.ResponseWriter, r *http.Request) error {
	code, aerr := mfaCode(r)
	if aerr == nil {
		aerr = s.passCode(r, code, true)
	}
	if aerr != nil {
		aerr.EmptyData = aerr.Status == http.StatusUnauthorized
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// passMfa takes code, a TOTP or unused recovery code, for the caller's
// session, marking the session's MFA done with ops, in one command. A
// retry of a request that took effect is refused as a spent code: its
// caller, the OIDC login, answers a new authorization code, which only
// the command that stores it makes valid.
func (s *Server) passMfa(r *http.Request, code string, ops ...*pb.Op) *api.Error {
	return s.passCode(r, code, false, ops...)
}

// passCode is passMfa. A request whose earlier attempt was applied
// already gets that attempt's outcome (retriedCode), not a 401 for the
// code it spent, nor is it counted as a wrong code; with answerRetry
// false, a success is a 401.
func (s *Server) passCode(r *http.Request, code string, answerRetry bool, ops ...*pb.Op) *api.Error {
	c := callerOf(r)
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	_, m, err := s.loadMfa(c.identity.ID)
	if retry, aerr := s.retriedCode(r); retry {
		return endedAsWrongCode(answeredOnce(aerr, answerRetry))
	}
	if errors.Is(err, fsm.ErrNotFound) || (err == nil && !m.GetIsVerified()) {
		return &api.Error{Status: http.StatusUnauthorized, Code: codeMfaNotEnrolled,
			Message: "The identity has no verified MFA enrollment: enroll at /current-identity/mfa and verify it"}
	}
	if err != nil {
		return api.Unhandled(err)
	}
	spend, aerr := s.takeCode(r, m, code, true)
	if aerr != nil {
		return aerr
	}
	passed, err := mfaPassedOp(c.session.ID)
	if err != nil {
		return api.Unhandled(err)
	}
	return endedAsWrongCode(s.applyWithCode(r, m, spend, append([]*pb.Op{passed}, ops...)...))
}

// answeredOnce is the answer to a retry whose earlier attempt got aerr:
// that, or, for a success that cannot be answered again (answer false),
// the 401 of a spent code.
func answeredOnce(aerr *api.Error, answer bool) *api.Error {
	if aerr == nil && !answer {
		return invalidMfaCode()
	}
	return aerr
}

// endedAsWrongCode answers a session that ended on another node while it
// gave its code (its fifth wrong code there; the command found no session
// to mark): the same 401 as a wrong code, which tells nothing.
func endedAsWrongCode(aerr *api.Error) *api.Error {
	if aerr != nil && aerr.Status == http.StatusNotFound {
		return invalidMfaCode()
	}
	return aerr
}

// deleteIdentityMfa answers the management API's DELETE
// /identities/{id}/mfa: an admin removes an identity's enrollment, on
// every node (OpenZiti writes it only on the node asked).
func (s *Server) deleteIdentityMfa(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	// A retry (the same Idempotency-Key) of a delete that took effect finds
	// no enrollment left: it answers what its first attempt got, mapped
	// alike (Store.Retried would answer its 404 without the reason).
	res, err := s.remembered(r)
	if err != nil {
		return api.Unhandled(err)
	}
	if res == nil {
		if _, err := s.store.Get(fsm.KindIdentity, id); err != nil {
			return api.NotFoundOr(err)
		}
		var aerr *api.Error
		if res, aerr = s.applyResult(r, fsm.DeleteOp(fsm.KindMfa, id)); aerr != nil {
			return aerr
		}
	}
	if res.GetCode() == pb.Result_NOT_FOUND {
		return noMfa()
	}
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// totpToken answers POST /current-api-session/totp-token {code}: a JWT,
// signed with this node's key (verifiable with any node's JWKS), that says
// the session's identity gave a TOTP code at issuedAt, for posture
// responses. The code is spent like any other. OpenZiti issues it only to
// OIDC sessions; here any fully authenticated session may have one.
func (s *Server) totpToken(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Signer == nil {
		return api.Unhandled(edge.ErrNoSigner)
	}
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	code, aerr := mfaCode(r)
	if aerr != nil {
		return aerr
	}
	c, _, m, aerr := s.callerMfa(r)
	// A retry of a request that took effect finds its code spent: the
	// first attempt's token went with its lost answer, and one signed now
	// says the same, that the session's identity gave a code.
	if retry, aerr := s.retriedCode(r); retry {
		if aerr != nil {
			return aerr
		}
		return s.writeTotpToken(w, c)
	}
	if aerr != nil {
		return aerr
	}
	if !m.GetIsVerified() {
		return noMfa()
	}
	spend, aerr := s.takeCode(r, m, code, false)
	if aerr != nil {
		return aerr
	}
	if aerr := s.applyWithCode(r, m, spend); aerr != nil {
		return aerr
	}
	return s.writeTotpToken(w, c)
}

// writeTotpToken signs and answers a TOTP token for the caller's session.
func (s *Server) writeTotpToken(w http.ResponseWriter, c *caller) error {
	now := time.Now()
	token, err := s.cfg.Signer.Sign(totpClaims{Type: "totp", SessionID: c.session.ID, RegisteredClaims: jwt.RegisteredClaims{
		Issuer: s.cfg.Signer.Issuer, Subject: c.identity.ID, IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		// OpenZiti's has no expiry; a proof of a code should not outlive
		// the sessions it may serve.
		ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.SessionTimeout))}})
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteData(w, http.StatusOK, map[string]any{"token": token, "issuedAt": api.Time(now)}, api.Meta{})
	return nil
}

// totpClaims are the claims of a TOTP token.
type totpClaims struct {
	Type      string `json:"type"`
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// mfaPassedOp marks API session sessionID as having given its MFA code now.
func mfaPassedOp(sessionID string) (*pb.Op, error) {
	return fsm.PatchOp(fsm.KindApiSession, sessionID, &pb.ApiSession{IsMfaRequired: true, IsMfaComplete: true, MfaPassedAt: time.Now().UnixNano()}, nil,
		"is_mfa_required", "is_mfa_complete", "mfa_passed_at")
}
