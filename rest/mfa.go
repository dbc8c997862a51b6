package rest

import (
	"errors"
	"net/http"
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

// codeAndMfa reads the body's code and the caller's enrollment.
func (s *Server) codeAndMfa(r *http.Request) (*caller, string, *pb.Mfa, *api.Error) {
	code, aerr := mfaCode(r)
	if aerr != nil {
		return nil, "", nil, aerr
	}
	c, _, m, aerr := s.callerMfa(r)
	return c, code, m, aerr
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
		aerr = s.verifyMfaCode(r, code)
	}
	if aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// verifyMfaCode completes the caller's enrollment with its first code,
// and ops in the same command.
func (s *Server) verifyMfaCode(r *http.Request, code string, ops ...*pb.Op) *api.Error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	c, _, m, aerr := s.callerMfa(r)
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
	c, code, m, aerr := s.codeAndMfa(r)
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
	api.WriteData(w, http.StatusOK, map[string]any{"recoveryCodes": codes}, api.Meta{})
	return nil
}

// authenticateMfa answers POST /authenticate/mfa {code}: a TOTP or unused
// recovery code completes the caller's partial session. Its refusals are
// 401 (the spec's only error status here) with the error envelope plus the
// empty data the spec gives that status.
func (s *Server) authenticateMfa(w http.ResponseWriter, r *http.Request) error {
	code, aerr := mfaCode(r)
	if aerr == nil {
		aerr = s.passMfa(r, code)
	}
	if aerr != nil {
		aerr.EmptyData = aerr.Status == http.StatusUnauthorized
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}

// passMfa takes code, a TOTP or unused recovery code, for the caller's
// session, marking the session's MFA done with ops, in one command.
func (s *Server) passMfa(r *http.Request, code string, ops ...*pb.Op) *api.Error {
	c := callerOf(r)
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	_, m, err := s.loadMfa(c.identity.ID)
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
	if aerr := s.applyWithCode(r, m, spend, append([]*pb.Op{passed}, ops...)...); aerr != nil {
		// The session ended on another node meanwhile (its fifth wrong
		// code there): the same 401 as a wrong code, which tells nothing.
		if aerr.Status == http.StatusNotFound {
			aerr = invalidMfaCode()
		}
		return aerr
	}
	return nil
}

// deleteIdentityMfa answers the management API's DELETE
// /identities/{id}/mfa: an admin removes an identity's enrollment, on
// every node (OpenZiti writes it only on the node asked).
func (s *Server) deleteIdentityMfa(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	if _, err := s.store.Get(fsm.KindIdentity, id); err != nil {
		return api.NotFoundOr(err)
	}
	res, aerr := s.applyResult(r, fsm.DeleteOp(fsm.KindMfa, id))
	if aerr != nil {
		return aerr
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
	c, code, m, aerr := s.codeAndMfa(r)
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
