package rest

import (
	"fmt"
	"unicode"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Bounds of an auth policy's numbers: a lockout of at most a year, at most
// a thousand attempts; a minimum password length within what a password
// may be.
const (
	maxLockoutMinutes = 365 * 24 * 60
	maxLoginAttempts  = 1000
)

// authPolicies declares /auth-policies: how the identities using a policy
// may log in (certificate, password with its rules and lockout, external
// JWT) and which second factors they need. "default" always exists (it is
// created with the default admin) and cannot be deleted; a policy that
// identities use cannot be deleted either.
func (s *Server) authPolicies() *Resource {
	return &Resource{
		Kind: fsm.KindAuthPolicy, Path: "auth-policies",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.AuthPolicyName},
			{Name: "primary", Proto: "primary", Type: Nested, Required: Always, NotNull: true, Fields: []Field{
				{Name: "cert", Proto: "cert", Type: Nested, Required: Always, NotNull: true, Fields: []Field{
					{Name: "allowed", Proto: "allowed", Type: Bool, Required: Always, NotNull: true},
					{Name: "allowExpiredCerts", Proto: "allow_expired_certs", Type: Bool, Required: Always, NotNull: true},
				}},
				{Name: "updb", Proto: "updb", Type: Nested, Required: Always, NotNull: true, Fields: []Field{
					{Name: "allowed", Proto: "allowed", Type: Bool, Required: Always, NotNull: true},
					{Name: "minPasswordLength", Proto: "min_password_length", Type: Int, Min: edge.MinPassword, Max: edge.MaxPassword, Required: Always, NotNull: true},
					{Name: "requireSpecialChar", Proto: "require_special_char", Type: Bool, Required: Always, NotNull: true},
					{Name: "requireNumberChar", Proto: "require_number_char", Type: Bool, Required: Always, NotNull: true},
					{Name: "requireMixedCase", Proto: "require_mixed_case", Type: Bool, Required: Always, NotNull: true},
					{Name: "maxAttempts", Proto: "max_attempts", Type: Int, Min: 0, Max: maxLoginAttempts, Required: Always, NotNull: true},
					{Name: "lockoutDurationMinutes", Proto: "lockout_duration_minutes", Type: Int, Min: 0, Max: maxLockoutMinutes, Required: Always, NotNull: true},
				}},
				{Name: "extJwt", Proto: "ext_jwt", Type: Nested, Required: Always, NotNull: true, Fields: []Field{
					{Name: "allowed", Proto: "allowed", Type: Bool, Required: Always, NotNull: true},
					{Name: "allowedSigners", Proto: "allowed_signers", Type: Strings, Required: Always},
				}},
			}},
			{Name: "secondary", Proto: "secondary", Type: Nested, Required: Always, NotNull: true, Fields: []Field{
				{Name: "requireTotp", Proto: "require_totp", Type: Bool, Required: Always, NotNull: true},
				{Name: "requireExtJwtSigner", Proto: "require_ext_jwt_signer", Type: String, Nullable: true},
			}},
		},
		// Signers named must exist: the store checks that on the write.
		BeforeDelete: refuseAuthPolicyDelete,
	}
}

// refuseAuthPolicyDelete keeps the default policy and the policies
// identities use, with the spec's 400 (it documents no 409 here).
func refuseAuthPolicyDelete(rd *fsm.Reader, rec *fsm.Record) ([]*pb.Op, error) {
	if rec.ID == fsm.DefaultAuthPolicyID {
		return nil, api.Invalid("id", "the default auth policy cannot be deleted", rec.ID)
	}
	users, err := rd.IDsByIndex(fsm.IdentityAuthPolicy, rec.ID)
	if err != nil {
		return nil, err
	}
	if len(users) > 0 {
		return nil, api.Invalid("id", fmt.Sprintf("the auth policy is used by %d identities; give them another first", len(users)), rec.ID)
	}
	return nil, nil
}

// authPolicyOf is the auth policy identity logs in under: its own, or the
// default (built in where a cluster from before auth policies lacks it).
func authPolicyOf(rd *fsm.Reader, ident *pb.Identity) (*pb.AuthPolicy, error) {
	id := ident.GetAuthPolicyId()
	if id == "" {
		id = fsm.DefaultAuthPolicyID
	}
	rec, err := rd.Get(fsm.KindAuthPolicy, id)
	if err != nil {
		if id == fsm.DefaultAuthPolicyID {
			return fsm.DefaultAuthPolicy(), nil
		}
		return nil, err
	}
	return rec.Body.(*pb.AuthPolicy), nil
}

// checkPassword refuses a password the auth policy of identity identityID
// does not allow (too short, or lacking a required kind of character),
// naming field.
func checkPassword(rd *fsm.Reader, identityID, field, password string) *api.Error {
	rec, err := rd.Get(fsm.KindIdentity, identityID)
	if err != nil {
		return nil // the write fails on its missing identity
	}
	policy, err := authPolicyOf(rd, rec.Body.(*pb.Identity))
	if err != nil {
		return api.Unhandled(err)
	}
	rules := policy.GetPrimary().GetUpdb()
	if int64(len(password)) < max(rules.GetMinPasswordLength(), edge.MinPassword) {
		return api.Invalid(field, fmt.Sprintf("must be at least %d characters (auth policy %s)", max(rules.GetMinPasswordLength(), edge.MinPassword), policy.GetName()), nil)
	}
	var upper, lower, digit, special bool
	for _, c := range password {
		switch {
		case unicode.IsUpper(c):
			upper = true
		case unicode.IsLower(c):
			lower = true
		case unicode.IsDigit(c):
			digit = true
		case !unicode.IsLetter(c):
			special = true
		}
	}
	switch {
	case rules.GetRequireNumberChar() && !digit:
		return api.Invalid(field, "must contain a digit (auth policy "+policy.GetName()+")", nil)
	case rules.GetRequireSpecialChar() && !special:
		return api.Invalid(field, "must contain a character that is neither a letter nor a digit (auth policy "+policy.GetName()+")", nil)
	case rules.GetRequireMixedCase() && !(upper && lower):
		return api.Invalid(field, "must contain upper and lower case letters (auth policy "+policy.GetName()+")", nil)
	}
	return nil
}
