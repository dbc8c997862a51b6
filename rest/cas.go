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
	"github.com/garrison-ctrl/garrison/fsm/query"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
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

// maxCertBody bounds a PEM certificate received in a body: a CA or
// verification certificate is a few KiB.
const maxCertBody = 64 << 10

// maxNameFormat bounds identityNameFormat.
const maxNameFormat = 1024

// caWritable are the CA fields PUT replaces and PATCH may set, by their
// API names (which are also the proto JSON names PatchOp accepts).
var caWritable = []string{"name", "isAutoCaEnrollmentEnabled", "isOttCaEnrollmentEnabled", "isAuthEnabled",
	"identityRoles", "identityNameFormat", "externalIdClaim", "tags"}

func (s *Server) routeCAs(mgmt *mux.Router) {
	mgmt.Handle("/cas", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.list(w, r, caList)
	}))).Methods(http.MethodGet)
	mgmt.Handle("/cas", s.admin(api.Handle(s.createCA))).Methods(http.MethodPost)
	mgmt.Handle("/cas/{id}", s.admin(api.Handle(s.getCA))).Methods(http.MethodGet)
	mgmt.Handle("/cas/{id}", s.admin(api.Handle(s.updateCA(false)))).Methods(http.MethodPut)
	mgmt.Handle("/cas/{id}", s.admin(api.Handle(s.updateCA(true)))).Methods(http.MethodPatch)
	mgmt.Handle("/cas/{id}", s.admin(api.Handle(s.deleteCA))).Methods(http.MethodDelete)
	mgmt.Handle("/cas/{id}/verify", s.admin(api.Handle(s.verifyCA))).Methods(http.MethodPost)
	mgmt.Handle("/cas/{id}/jwt", s.admin(api.Handle(s.caJWT))).Methods(http.MethodGet)
}

var caList = &listSpec{
	kind: fsm.KindCa,
	fields: map[string]query.FieldType{
		"name": query.String, "fingerprint": query.String, "certPem": query.String, "isVerified": query.Bool,
		"verificationToken": query.String, "isAutoCaEnrollmentEnabled": query.Bool, "isOttCaEnrollmentEnabled": query.Bool,
		"isAuthEnabled": query.Bool, "identityRoles": query.StringSet, "identityNameFormat": query.String,
	},
	value: func(rec *fsm.Record, f string) (any, bool) {
		ca, _ := fsm.As[*pb.Ca](rec)
		switch f {
		case "name":
			return ca.GetName(), true
		case "fingerprint":
			return ca.GetFingerprint(), true
		case "certPem":
			return ca.GetCertPem(), true
		case "isVerified":
			return ca.GetIsVerified(), true
		case "verificationToken":
			return ca.GetVerificationToken(), true
		case "isAutoCaEnrollmentEnabled":
			return ca.GetIsAutoCaEnrollmentEnabled(), true
		case "isOttCaEnrollmentEnabled":
			return ca.GetIsOttCaEnrollmentEnabled(), true
		case "isAuthEnabled":
			return ca.GetIsAuthEnabled(), true
		case "identityRoles":
			return ca.GetIdentityRoles(), true
		case "identityNameFormat":
			return ca.GetIdentityNameFormat(), true
		}
		return nil, false
	},
	indexes: map[string]fsm.IndexRef{"name": fsm.CaName, "fingerprint": fsm.CaFingerprint},
	render: func(_ *fsm.Reader, rec *fsm.Record) map[string]any {
		ca, _ := fsm.As[*pb.Ca](rec)
		return renderCA(rec, ca)
	},
}

// renderCA renders caDetail. Like OpenZiti it links verify while the CA is
// unverified and jwt while it allows auto-enrollment.
func renderCA(rec *fsm.Record, ca *pb.Ca) map[string]any {
	d := baseEntity(rec, "cas")
	l := d["_links"].(map[string]any)
	if !ca.GetIsVerified() {
		l["verify"] = map[string]string{"href": "./cas/" + rec.ID + "/verify"}
	}
	if ca.GetIsAutoCaEnrollmentEnabled() {
		l["jwt"] = map[string]string{"href": "./cas/" + rec.ID + "/jwt"}
	}
	roles := ca.GetIdentityRoles()
	if roles == nil {
		roles = []string{}
	}
	d["name"] = ca.GetName()
	d["certPem"] = ca.GetCertPem()
	d["fingerprint"] = ca.GetFingerprint()
	d["isVerified"] = ca.GetIsVerified()
	d["verificationToken"] = ca.GetVerificationToken()
	d["isAutoCaEnrollmentEnabled"] = ca.GetIsAutoCaEnrollmentEnabled()
	d["isOttCaEnrollmentEnabled"] = ca.GetIsOttCaEnrollmentEnabled()
	d["isAuthEnabled"] = ca.GetIsAuthEnabled()
	d["identityRoles"] = roles
	d["identityNameFormat"] = ca.GetIdentityNameFormat()
	if c := ca.GetExternalIdClaim(); c != nil {
		d["externalIdClaim"] = map[string]any{
			"location": c.GetLocation(), "matcher": c.GetMatcher(), "matcherCriteria": c.GetMatcherCriteria(),
			"parser": c.GetParser(), "parserCriteria": c.GetParserCriteria(), "index": c.GetIndex(),
		}
	}
	return d
}

// caMode is which of the spec's CA bodies is being read.
type caMode int

const (
	caCreate caMode = iota
	caUpdate
	caPatch
)

// caRequired are the fields each body must carry (and not as null).
var caRequired = map[caMode][]string{
	caCreate: {"name", "certPem", "isAutoCaEnrollmentEnabled", "isOttCaEnrollmentEnabled", "isAuthEnabled", "identityRoles"},
	caUpdate: {"name", "isAutoCaEnrollmentEnabled", "isOttCaEnrollmentEnabled", "isAuthEnabled", "identityRoles", "identityNameFormat"},
}

// caInput reads a caCreate/caUpdate/caPatch body into ca (which holds the
// current values for an update) and returns the tags and the fields set.
// certPem is read only on create: a CA's certificate never changes, since
// its verification and everything it vouched for hang on it.
func caInput(o api.Object, ca *pb.Ca, mode caMode) (map[string]any, []string, *api.Error) {
	for _, f := range caRequired[mode] {
		if !o.Has(f) || o.IsNull(f) {
			return nil, nil, api.Invalid(f, f+" is required", nil)
		}
	}
	var set []string
	// present: a PUT writes every field; a PATCH only those it carries.
	present := func(f string) bool { return mode != caPatch || o.Has(f) }
	if v, ok, err := o.String("name"); err != nil {
		return nil, nil, err
	} else if ok || o.Has("name") {
		if v == "" || api.BadText(v) != "" {
			return nil, nil, api.Invalid("name", "must be non-empty text", v)
		}
		ca.Name = v
		set = append(set, "name")
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{
		{"isAutoCaEnrollmentEnabled", &ca.IsAutoCaEnrollmentEnabled},
		{"isOttCaEnrollmentEnabled", &ca.IsOttCaEnrollmentEnabled},
		{"isAuthEnabled", &ca.IsAuthEnabled},
	} {
		if v, _, err := o.Bool(f.name); err != nil {
			return nil, nil, err
		} else if present(f.name) {
			*f.dst = v // a PATCH with null switches it off, as in OpenZiti
			set = append(set, f.name)
		}
	}
	if v, _, err := o.Strings("identityRoles"); err != nil {
		return nil, nil, err
	} else if present("identityRoles") {
		ca.IdentityRoles = v
		set = append(set, "identityRoles")
	}
	if v, _, err := o.String("identityNameFormat"); err != nil {
		return nil, nil, err
	} else if present("identityNameFormat") {
		if v == "" {
			v = defaultIdentityNameFormat
		}
		if len(v) > maxNameFormat || api.BadText(v) != "" {
			return nil, nil, api.Invalid("identityNameFormat", fmt.Sprintf("must be text of at most %d bytes", maxNameFormat), nil)
		}
		ca.IdentityNameFormat = v
		set = append(set, "identityNameFormat")
	}
	if present("externalIdClaim") {
		claim, aerr := claimInput(o, ca.GetExternalIdClaim(), mode == caPatch)
		if aerr != nil {
			return nil, nil, aerr
		}
		ca.ExternalIdClaim = claim
		set = append(set, "externalIdClaim")
	}
	tags, _, aerr := o.Tags("tags")
	if aerr != nil {
		return nil, nil, aerr
	}
	if present("tags") {
		set = append(set, "tags")
	}
	return tags, set, nil
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

// claimInput reads externalIdClaim: null clears it; a PATCH changes only
// the sub-fields it carries. The result is checked as a whole, so a CA
// never stores a rule that cannot be applied.
func claimInput(o api.Object, cur *pb.ExternalIdClaim, patch bool) (*pb.ExternalIdClaim, *api.Error) {
	var sub api.Object
	ok, aerr := o.Decode("externalIdClaim", "an api.Object", &sub)
	if aerr != nil || !ok {
		return nil, aerr
	}
	c := &pb.ExternalIdClaim{}
	if patch && cur != nil {
		c = &pb.ExternalIdClaim{Location: cur.GetLocation(), Matcher: cur.GetMatcher(), MatcherCriteria: cur.GetMatcherCriteria(),
			Parser: cur.GetParser(), ParserCriteria: cur.GetParserCriteria(), Index: cur.GetIndex()}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"location", &c.Location}, {"matcher", &c.Matcher}, {"matcherCriteria", &c.MatcherCriteria},
		{"parser", &c.Parser}, {"parserCriteria", &c.ParserCriteria},
	} {
		v, _, aerr := sub.String(f.name)
		if aerr != nil {
			return nil, api.PrefixField("externalIdClaim.", aerr)
		}
		if !patch || sub.Has(f.name) {
			*f.dst = v
		}
	}
	idx, _, aerr := sub.Int("index", 0, 1<<20)
	if aerr != nil {
		return nil, api.PrefixField("externalIdClaim.", aerr)
	}
	if !patch || sub.Has("index") {
		c.Index = idx
	}
	if aerr := checkClaim(c); aerr != nil {
		return nil, aerr
	}
	return c, nil
}

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

func (s *Server) createCA(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	certPEM, _, aerr := o.String("certPem")
	if aerr != nil {
		return aerr
	}
	ca := &pb.Ca{IdentityNameFormat: defaultIdentityNameFormat}
	tags, _, aerr := caInput(o, ca, caCreate)
	if aerr != nil {
		return aerr
	}
	cert, aerr := parseCACert(certPEM)
	if aerr != nil {
		return aerr
	}
	// The cluster's own CAs must not come back as "third-party": their
	// rules (auto-enrollment, external ids) would then apply to every
	// certificate the cluster issues, session and router certificates too.
	bundle, err := s.caBundle()
	if err != nil {
		return api.Unhandled(err)
	}
	for _, own := range bundle {
		if own.Equal(cert) {
			return api.Invalid("certPem", "is one of the cluster's own CAs, which need no registration", nil)
		}
	}
	ca.CertPem = string(pki.EncodeCertificatesPEM(cert))
	ca.Fingerprint = pki.Fingerprint(cert)
	ca.VerificationToken = uuid.NewString()
	id := uuid.NewString()
	op, err := fsm.CreateOp(fsm.KindCa, id, ca, tags)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "cas", id)
	return nil
}

// loadCA reads the CA named in the URL.
func (s *Server) loadCA(r *http.Request) (*fsm.Record, *pb.Ca, *api.Error) {
	rec, err := s.store.Get(fsm.KindCa, mux.Vars(r)["id"])
	if err != nil {
		return nil, nil, api.NotFoundOr(err)
	}
	ca, _ := fsm.As[*pb.Ca](rec)
	return rec, ca, nil
}

func (s *Server) getCA(w http.ResponseWriter, r *http.Request) error {
	rec, ca, aerr := s.loadCA(r)
	if aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, renderCA(rec, ca), api.Meta{})
	return nil
}

func (s *Server) updateCA(patch bool) func(w http.ResponseWriter, r *http.Request) error {
	mode := caUpdate
	if patch {
		mode = caPatch
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, ca, aerr := s.loadCA(r)
		if aerr != nil {
			return aerr
		}
		o, aerr := api.DecodeObject(r)
		if aerr != nil {
			return aerr
		}
		tags, fields, aerr := caInput(o, ca, mode)
		if aerr != nil {
			return aerr
		}
		op, err := fsm.PatchOp(fsm.KindCa, rec.ID, ca, tags, fields...)
		if err != nil {
			return api.Unhandled(err)
		}
		return s.applyEmpty(w, r, op)
	}
}

// deleteCA deletes the CA; the store deletes its cert authenticators and
// enrollments in the same apply, so its certificates stop logging in on
// every node at once.
func (s *Server) deleteCA(w http.ResponseWriter, r *http.Request) error {
	rec, _, aerr := s.loadCA(r)
	if aerr != nil {
		return aerr
	}
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindCa, rec.ID))
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
	rec, ca, aerr := s.loadCA(r)
	if aerr != nil {
		return aerr
	}
	if ca.GetIsVerified() {
		return &api.Error{Status: http.StatusConflict, Code: CodeCaAlreadyVerified, Message: "CA has already been verified"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCertBody+1))
	if err != nil {
		return api.BadBody(err)
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
