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

// TOTP multi-factor authentication (rest/mfa.go). An identity enrolls
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
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, mfaPath, c.identity.ID)
	return nil
}

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

// spendCode checks code against the enrollment and returns the op that
// spends it: a current TOTP code, or, when recovery is allowed, an unused
// recovery code. The op fails the command if another node spent it first.
func spendCode(identityID string, m *pb.Mfa, code string, recovery bool) (*pb.Op, bool) {
	if step, ok := edge.TotpStep(m.GetSecret(), code, time.Now()); ok {
		if step <= m.GetLastStep() {
			return nil, false
		}
		return fsm.MfaCodeUsedOp(identityID, step, ""), true
	}
	if recovery && m.GetIsVerified() && edge.LooksLikeRecoveryCode(code) {
		return fsm.MfaCodeUsedOp(identityID, 0, edge.HashRecoveryCode(code)), true
	}
	return nil, false
}

// applyWithCode replicates ops after spend, guarded by the enrollment m the
// request read (fsm.MfaExpect: still that one, in the same state); a code
// another node spent first (or an unknown recovery code) is a wrong code.
func (s *Server) applyWithCode(r *http.Request, m *pb.Mfa, spend *pb.Op, ops ...*pb.Op) *api.Error {
	c := callerOf(r)
	res, aerr := s.applyResult(r, append([]*pb.Op{fsm.MfaExpectOp(c.identity.ID, m), spend}, ops...)...)
	if aerr != nil {
		return aerr
	}
	switch {
	case res.GetCode() == pb.Result_OK:
		return nil
	case res.GetOpIndex() == 0:
		return enrollmentChanged()
	case res.GetOpIndex() == 1:
		return s.wrongMfaCode(r)
	}
	return api.FromResult(res)
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
	res, aerr := s.applyResult(r, fsm.MfaFailedOp(callerOf(r).session.ID, maxMfaFailures))
	if aerr != nil {
		return aerr
	}
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	return invalidMfaCode()
}

// verifyMfa answers POST /current-identity/mfa/verify: a first TOTP code
// completes the enrollment, which from then on keeps only the hashes of
// its recovery codes; the session that verified counts as having passed.
func (s *Server) verifyMfa(w http.ResponseWriter, r *http.Request) error {
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		return aerr
	}
	defer unlock()
	c, code, m, aerr := s.codeAndMfa(r)
	if aerr != nil {
		return aerr
	}
	if m.GetIsVerified() {
		return noMfa() // nothing left to verify, as OpenZiti answers
	}
	spend, ok := spendCode(c.identity.ID, m, code, false)
	if !ok {
		return s.refuseCode(r, code)
	}
	verified, err := fsm.PatchOp(fsm.KindMfa, c.identity.ID, &pb.Mfa{IsVerified: true}, nil, "is_verified", "pending_recovery_codes")
	if err != nil {
		return api.Unhandled(err)
	}
	passed, err := fsm.PatchOp(fsm.KindApiSession, c.session.ID, &pb.ApiSession{IsMfaRequired: true, IsMfaComplete: true, MfaPassedAt: time.Now().UnixNano()}, nil,
		"is_mfa_required", "is_mfa_complete", "mfa_passed_at")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.applyWithCode(r, m, spend, verified, passed); aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
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
	del := fsm.DeleteOp(fsm.KindMfa, c.identity.ID)
	if !m.GetIsVerified() {
		res, aerr := s.applyResult(r, fsm.MfaExpectOp(c.identity.ID, m), del)
		if aerr != nil {
			return aerr
		}
		if res.GetCode() != pb.Result_OK && res.GetOpIndex() == 0 {
			return enrollmentChanged() // verified meanwhile: that needs a code
		}
		if aerr := api.FromResult(res); aerr != nil {
			return aerr
		}
		api.WriteEmpty(w)
		return nil
	}
	spend, ok := spendCode(c.identity.ID, m, r.Header.Get(mfaCodeHeader), true)
	if !ok {
		return s.refuseCode(r, r.Header.Get(mfaCodeHeader))
	}
	if aerr := s.applyWithCode(r, m, spend, del); aerr != nil {
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
	spend, ok := spendCode(c.identity.ID, m, code, true)
	if !ok {
		return s.refuseCode(r, code)
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
	c := callerOf(r)
	unlock, aerr := s.codeTurn(r)
	if aerr != nil {
		aerr.EmptyData = aerr.Status == http.StatusUnauthorized
		return aerr
	}
	defer unlock()
	code, aerr := mfaCode(r)
	if aerr != nil {
		return aerr
	}
	_, m, err := s.loadMfa(c.identity.ID)
	if errors.Is(err, fsm.ErrNotFound) || (err == nil && !m.GetIsVerified()) {
		return &api.Error{Status: http.StatusUnauthorized, Code: codeMfaNotEnrolled, EmptyData: true,
			Message: "The identity has no verified MFA enrollment: enroll at /current-identity/mfa and verify it"}
	}
	if err != nil {
		return api.Unhandled(err)
	}
	spend, ok := spendCode(c.identity.ID, m, code, true)
	if !ok {
		e := s.refuseCode(r, code)
		e.EmptyData = e.Status == http.StatusUnauthorized
		return e
	}
	passed, err := fsm.PatchOp(fsm.KindApiSession, c.session.ID, &pb.ApiSession{IsMfaRequired: true, IsMfaComplete: true, MfaPassedAt: time.Now().UnixNano()}, nil,
		"is_mfa_required", "is_mfa_complete", "mfa_passed_at")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.applyWithCode(r, m, spend, passed); aerr != nil {
		// The session ended on another node meanwhile (its fifth wrong
		// code there): the same 401 as a wrong code, which tells nothing.
		if aerr.Status == http.StatusNotFound {
			aerr = invalidMfaCode()
		}
		aerr.EmptyData = aerr.Status == http.StatusUnauthorized
		return aerr
	}
	api.WriteEmpty(w)
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

// mfaPending reports whether an API session still owes an MFA code: its
// identity had verified MFA when it logged in, or its auth policy (as it
// says now) requires TOTP, and no code was taken since.
func mfaPending(sess *pb.ApiSession, policy *pb.AuthPolicy) bool {
	return !sess.GetIsMfaComplete() && (sess.GetIsMfaRequired() || policy.GetSecondary().GetRequireTotp())
}

// totpEnrolled reports whether identityID has a verified TOTP enrollment.
func totpEnrolled(rd *fsm.Reader, identityID string) (bool, error) {
	rec, err := rd.Get(fsm.KindMfa, identityID)
	if errors.Is(err, fsm.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rec.Body.(*pb.Mfa).GetIsVerified(), nil
}

// authQueries renders what a session still owes: the TOTP code, as
// OpenZiti's SDKs expect to find it.
func authQueries(rd *fsm.Reader, sess *pb.ApiSession) ([]any, error) {
	identRec, err := rd.Get(fsm.KindIdentity, sess.GetIdentityId())
	if err != nil {
		return []any{}, nil // gone: nothing to owe
	}
	policy, err := authPolicyOf(rd, identRec.Body.(*pb.Identity))
	if err != nil || !mfaPending(sess, policy) {
		return []any{}, err
	}
	enrolled, err := totpEnrolled(rd, identRec.ID)
	if err != nil {
		return nil, err
	}
	return []any{map[string]any{
		"typeId": "MFA", "provider": "ziti", "format": "alphaNumeric", "httpMethod": "POST",
		"httpUrl": "./authenticate/mfa", "minLength": 4, "maxLength": 6, "isTotpEnrolled": enrolled,
	}}, nil
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
	spend, ok := spendCode(c.identity.ID, m, code, false)
	if !ok {
		return s.refuseCode(r, code)
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
