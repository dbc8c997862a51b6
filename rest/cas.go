package rest

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Third-party certificate authorities (management /cas). A CA is stored
// unverified; it vouches for nothing until an admin proves control of its
// key by POSTing to /cas/{id}/verify a certificate it signed whose common
// name is the CA's verificationToken.

// Error codes of CA verification, as OpenZiti spells them.
const (
	CodeCaAlreadyVerified           = "CA_ALREADY_VERIFIED"
	CodeExpectedPemCertificate      = "EXPECTED_PEM_CERTIFICATE"
	CodeCouldNotParseDerBlock       = "COULD_NOT_PARSE_DER_BLOCK"
	CodeInvalidCommonName           = "INVALID_COMMON_NAME"
	CodeCertificateFailedValidation = "CERTIFICATE_FAILED_VALIDATION"
)

// defaultIdentityNameFormat names identities created by CA auto-enrollment
// when the CA gives no format, as in OpenZiti.
const defaultIdentityNameFormat = "[caName]-[commonName]"

// maxNameFormat bounds identityNameFormat.
const maxNameFormat = 1024

// cas declares /cas: third-party CAs. A CA's certificate never changes (its
// verification and everything it vouched for hang on it), so certPem is
// taken on create only; deleting a CA deletes, in the same apply, the
// authenticators and enrollments it vouched for.
func (s *Server) cas() *Resource {
	return &Resource{
		Kind: fsm.KindCa, Path: "cas",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.CaName},
			{Name: "certPem", Proto: "cert_pem", Type: String, Max: maxCertBody, Required: OnCreate, Access: CreateOnly},
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly, Index: fsm.CaFingerprint},
			{Name: "isVerified", Proto: "is_verified", Type: Bool, Access: ReadOnly},
			{Name: "verificationToken", Proto: "verification_token", Type: String, Access: ReadOnly},
			{Name: "isAutoCaEnrollmentEnabled", Proto: "is_auto_ca_enrollment_enabled", Type: Bool, Required: Always},
			{Name: "isOttCaEnrollmentEnabled", Proto: "is_ott_ca_enrollment_enabled", Type: Bool, Required: Always},
			{Name: "isAuthEnabled", Proto: "is_auth_enabled", Type: Bool, Required: Always},
			{Name: "identityRoles", Proto: "identity_roles", Type: Strings, Required: Always},
			{Name: "identityNameFormat", Proto: "identity_name_format", Type: String, Max: maxNameFormat, Required: OnPut,
				Default: defaultIdentityNameFormat},
			{Name: "externalIdClaim", Proto: "external_id_claim", Type: Nested, OmitEmpty: true, Fields: []Field{
				{Name: "location", Proto: "location", Type: String},
				{Name: "matcher", Proto: "matcher", Type: String},
				{Name: "matcherCriteria", Proto: "matcher_criteria", Type: String},
				{Name: "parser", Proto: "parser", Type: String},
				{Name: "parserCriteria", Proto: "parser_criteria", Type: String},
				{Name: "index", Proto: "index", Type: Int, Min: 0, Max: 1 << 20},
			}},
		},
		Check:  s.checkCA,
		Render: renderCALinks,
	}
}

// checkCA takes a new CA's certificate (exactly one CA certificate, not one
// of the cluster's own) and checks an external id claim as a whole, so a
// stored rule always applies.
func (s *Server) checkCA(w *Write) error {
	ca := w.Body.(*pb.Ca)
	if w.Changes("external_id_claim") && ca.GetExternalIdClaim() != nil {
		if aerr := checkClaim(ca.GetExternalIdClaim()); aerr != nil {
			return aerr
		}
	}
	if w.Mode != Create {
		return nil
	}
	cert, aerr := parseCACert(ca.GetCertPem())
	if aerr != nil {
		return aerr
	}
	// The cluster's own CAs must not come back as "third-party": their
	// rules (auto-enrollment, external ids) would then apply to every
	// certificate the cluster issues, session and router certificates too.
	members, err := edge.Members(w.Reader)
	if err != nil {
		return err
	}
	for _, own := range s.trust.Bundle(members) {
		if own.Equal(cert) {
			return api.Invalid("certPem", "is one of the cluster's own CAs, which need no registration", nil)
		}
	}
	ca.CertPem = string(pki.EncodeCertificatesPEM(cert))
	ca.Fingerprint = pki.Fingerprint(cert)
	ca.VerificationToken = uuid.NewString()
	return nil
}

// renderCALinks links verify while the CA is unverified and jwt while it
// allows auto-enrollment, as OpenZiti does.
func renderCALinks(_ *fsm.Reader, rec *fsm.Record, d map[string]any) error {
	ca := rec.Body.(*pb.Ca)
	l := d["_links"].(map[string]any)
	if !ca.GetIsVerified() {
		l["verify"] = map[string]string{"href": "./cas/" + rec.ID + "/verify"}
	}
	if ca.GetIsAutoCaEnrollmentEnabled() {
		l["jwt"] = map[string]string{"href": "./cas/" + rec.ID + "/jwt"}
	}
	return nil
}

// External id claim rules: where in a certificate the external id is, which
// values match (and what is cut off them), and how a value splits.
var (
	claimLocations = []string{"COMMON_NAME", "SAN_URI", "SAN_EMAIL"}
	claimParsers   = []string{"NONE", "SPLIT"}
	// claimMatchers lists the matchers each location supports: a URI has a
	// scheme, text has a prefix and a suffix.
	claimMatchers = map[string][]string{
		"COMMON_NAME": {"ALL", "PREFIX", "SUFFIX"},
		"SAN_EMAIL":   {"ALL", "PREFIX", "SUFFIX"},
		"SAN_URI":     {"ALL", "SCHEME"},
	}
)

func checkClaim(c *pb.ExternalIdClaim) *api.Error {
	if !slices.Contains(claimLocations, c.GetLocation()) {
		return api.Invalid("externalIdClaim.location", "must be one of "+strings.Join(claimLocations, ", "), c.GetLocation())
	}
	if matchers := claimMatchers[c.GetLocation()]; !slices.Contains(matchers, c.GetMatcher()) {
		return api.Invalid("externalIdClaim.matcher", "must be one of "+strings.Join(matchers, ", ")+" for "+c.GetLocation(), c.GetMatcher())
	}
	if c.GetMatcher() != "ALL" && c.GetMatcherCriteria() == "" {
		return api.Invalid("externalIdClaim.matcherCriteria", "is required for matcher "+c.GetMatcher(), nil)
	}
	if !slices.Contains(claimParsers, c.GetParser()) {
		return api.Invalid("externalIdClaim.parser", "must be one of "+strings.Join(claimParsers, ", "), c.GetParser())
	}
	if c.GetParser() == "SPLIT" && c.GetParserCriteria() == "" {
		return api.Invalid("externalIdClaim.parserCriteria", "is required for parser SPLIT", nil)
	}
	for _, v := range []string{c.GetMatcherCriteria(), c.GetParserCriteria()} {
		if bad := api.BadText(v); bad != "" {
			return api.Invalid("externalIdClaim", bad, nil)
		}
	}
	return nil
}

// externalIDOf reads the external id a CA's claim rule finds in cert:
// the location's values that the matcher accepts (with a prefix or suffix
// cut off), each split by the parser, and of those the one at index.
func externalIDOf(c *pb.ExternalIdClaim, cert *x509.Certificate) (string, bool) {
	var values []string
	switch c.GetLocation() {
	case "COMMON_NAME":
		values = []string{cert.Subject.CommonName}
	case "SAN_EMAIL":
		values = cert.EmailAddresses
	case "SAN_URI":
		for _, u := range cert.URIs {
			if c.GetMatcher() == "SCHEME" && u.Scheme != c.GetMatcherCriteria() {
				continue
			}
			values = append(values, u.String())
		}
	}
	var claims []string
	for _, v := range values {
		switch c.GetMatcher() {
		case "PREFIX":
			var ok bool
			if v, ok = strings.CutPrefix(v, c.GetMatcherCriteria()); !ok {
				continue
			}
		case "SUFFIX":
			var ok bool
			if v, ok = strings.CutSuffix(v, c.GetMatcherCriteria()); !ok {
				continue
			}
		}
		if c.GetParser() == "SPLIT" {
			claims = append(claims, strings.Split(v, c.GetParserCriteria())...)
		} else {
			claims = append(claims, v)
		}
	}
	i := c.GetIndex()
	if i < 0 || i >= int64(len(claims)) || claims[i] == "" || api.BadText(claims[i]) != "" {
		return "", false
	}
	return claims[i], true
}

// nameValues are what an identityNameFormat's placeholders stand for.
type nameValues struct {
	caName, caID, commonName, requestedName, identityID string
}

// formatIdentityName expands the placeholders [caName], [caId],
// [commonName], [requestedName] and [identityId] in format (empty means the
// default format). Expansion is one left-to-right pass: text that came from
// the certificate or the request is never expanded again. Anything else in
// brackets is kept as written.
func formatIdentityName(format string, v nameValues) string {
	if format == "" {
		format = defaultIdentityNameFormat
	}
	name := strings.NewReplacer(
		"[caName]", v.caName, "[caId]", v.caID, "[commonName]", v.commonName,
		"[requestedName]", v.requestedName, "[identityId]", v.identityID,
	).Replace(format)
	if name == "" {
		return v.identityID
	}
	return name
}

// parseCACert reads a caCreate certPem: exactly one certificate, which
// must be a CA able to sign certificates.
func parseCACert(certPEM string) (*x509.Certificate, *api.Error) {
	if len(certPEM) > maxCertBody {
		return nil, api.Invalid("certPem", fmt.Sprintf("must be at most %d bytes", maxCertBody), nil)
	}
	cert, aerr := parseClientCert("certPem", certPEM)
	if aerr != nil {
		return nil, aerr
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, api.Invalid("certPem", "is not a CA certificate (basic constraints without CA:TRUE)", nil)
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, api.Invalid("certPem", "cannot sign certificates (its key usage lacks keyCertSign)", nil)
	}
	return cert, nil
}

// parseVerifyCert reads the body of POST /cas/{id}/verify: a PEM
// certificate, sent as text/plain (a JSON string is accepted too, as some
// clients send one). Only the first PEM block counts, as in OpenZiti.
func parseVerifyCert(body []byte) (*x509.Certificate, *api.Error) {
	if len(body) > maxCertBody {
		return nil, &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotParseBody, Message: "The request body is too large"}
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, `"`) {
		if err := json.Unmarshal([]byte(text), &text); err != nil {
			return nil, api.BadBody(fmt.Errorf("the body is neither a PEM certificate nor a JSON string holding one: %w", err))
		}
	}
	if text == "" {
		return nil, api.BadBody(fmt.Errorf("the body must be a PEM certificate"))
	}
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, api.BadBody(fmt.Errorf("the body holds no PEM block"))
	}
	if block.Type != "CERTIFICATE" {
		return nil, &api.Error{Status: http.StatusBadRequest, Code: CodeExpectedPemCertificate,
			Message: "expected PEM block type 'CERTIFICATE'", CauseMessage: "got PEM block type " + block.Type}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, &api.Error{Status: http.StatusBadRequest, Code: CodeCouldNotParseDerBlock,
			Message: "The certificate's DER block could not be parsed", CauseMessage: err.Error()}
	}
	return cert, nil
}

// verifyCA marks the CA verified once the body proves control of its key:
// a certificate it signed whose common name is the CA's verificationToken.
func (s *Server) verifyCA(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCertBody+1))
	if err != nil {
		return api.BadBody(err)
	}
	rec, ca, aerr := load[*pb.Ca](s, r, fsm.KindCa)
	if aerr != nil {
		return aerr
	}
	if ca.GetIsVerified() {
		// A retry finds the CA its first attempt verified.
		if retry, err := s.rs.RetriedEmpty(w, r); retry {
			return err
		}
		return &api.Error{Status: http.StatusConflict, Code: CodeCaAlreadyVerified, Message: "CA has already been verified"}
	}
	cert, aerr := parseVerifyCert(body)
	if aerr != nil {
		return aerr
	}
	if cert.Subject.CommonName != ca.GetVerificationToken() {
		return &api.Error{Status: http.StatusBadRequest, Code: CodeInvalidCommonName,
			Message:      "The common name of the supplied certificate is invalid",
			Cause:        &api.FieldError{Field: "commonName", Reason: "must equal the CA's verificationToken", Value: cert.Subject.CommonName},
			CauseMessage: "the common name must equal the CA's verificationToken"}
	}
	caCert, aerr := parseClientCert("certPem", ca.GetCertPem())
	if aerr != nil {
		return api.Unhandled(fmt.Errorf("stored CA %s: %s", rec.ID, aerr.Error()))
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pki.NewCertPool(caCert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return &api.Error{Status: http.StatusBadRequest, Code: CodeCertificateFailedValidation,
			Message: "The supplied certificate failed to validate against the CA's certificate chain", CauseMessage: err.Error()}
	}
	ca.IsVerified = true
	op, err := fsm.PatchOp(fsm.KindCa, rec.ID, ca, nil, "isVerified")
	if err != nil {
		return api.Unhandled(err)
	}
	return s.applyEmpty(w, r, op)
}

// caJWT answers the CA's auto-enrollment JWT (em "ca", sub and jti the CA
// id), signed by this node and naming every member in ctrls.
func (s *Server) caJWT(w http.ResponseWriter, r *http.Request) error {
	var signed string
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindCa, mux.Vars(r)["id"])
		if err != nil {
			return api.NotFoundOr(err)
		}
		signed, err = s.minter.CAJWT(rd, rec.ID)
		return err
	})
	if err != nil {
		return fromEdge(err)
	}
	w.Header().Set("Content-Type", "application/jwt")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, signed)
	return nil
}
