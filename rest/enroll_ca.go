package rest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// CA auto-enrollment (client POST /enroll/ca): a client holding a
// certificate from a verified third-party CA that allows auto-enrollment
// creates its own identity, named by the CA's identityNameFormat, with no
// token. The TLS handshake has proven it holds the certificate's key.

// Error codes of CA auto-enrollment, as OpenZiti spells them.
const (
	CodeCertFailedValidation = "CERT_FAILED_VALIDATION"
	CodeCertInUse            = "CERT_IN_USE"
	CodeMissingCertClaim     = "MISSING_CERT_CLAIM"
)

// maxNameSuffix bounds the numbered names tried when a formatted identity
// name is taken (name000001, name000002, ...), as in OpenZiti.
const maxNameSuffix = 999999

func errCertFailedValidation(why string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: CodeCertFailedValidation,
		Message: "certificate failed to validate against CA", CauseMessage: why}
}

func errCertInUse() *api.Error {
	return &api.Error{Status: http.StatusConflict, Code: CodeCertInUse,
		Message: "The certificate supplied is already associated with another identity"}
}

// enrollCARequest is the optional body: OpenZiti lets the client propose a
// name, used where the CA's format says [requestedName].
type enrollCARequest struct {
	Name string `json:"name"`
}

// enrollCA creates the identity (and, unless the CA names identities by an
// external id read from the certificate, its cert authenticator) in one
// command. The store's unique indexes make a certificate enroll once even
// when two nodes race: the loser gets 409.
func (s *Server) enrollCA(w http.ResponseWriter, r *http.Request) error {
	var req enrollCARequest
	if aerr := api.Decode(r, &req); aerr != nil {
		return aerr
	}
	if bad := api.BadText(req.Name); bad != "" {
		return api.Invalid("name", bad, nil)
	}
	chain := clientChain(r)
	if len(chain) == 0 {
		return errCertFailedValidation("no client certificate was presented in the TLS handshake")
	}
	// A name taken between reading and applying (another enrollment with
	// the same common name on another node) is worth another try.
	for attempt := 0; ; attempt++ {
		ops, aerr := s.planCAEnrollment(chain, req.Name)
		if aerr != nil {
			return aerr
		}
		aerr = s.apply(r, ops...)
		if aerr == nil {
			api.WriteEmpty(w)
			return nil
		}
		field := ""
		if aerr.Cause != nil {
			field = aerr.Cause.Field
		}
		switch {
		case aerr.Status != http.StatusBadRequest:
			return aerr
		case field == "fingerprint" || field == "externalId":
			return errCertInUse()
		case field == "name" && attempt < 2:
			continue
		}
		return aerr
	}
}

// planCAEnrollment reads what the enrollment needs from the local store and
// builds its ops: ids and names are chosen here, before replication.
func (s *Server) planCAEnrollment(chain []*x509.Certificate, requested string) ([]*pb.Op, *api.Error) {
	leaf := chain[0]
	fp := pki.Fingerprint(leaf)
	var ops []*pb.Op
	var aerr *api.Error
	err := s.store.View(func(rd *fsm.Reader) error {
		cas, err := vouchingCAs(rd, chain, (*pb.Ca).GetIsAutoCaEnrollmentEnabled)
		if err != nil {
			return err
		}
		if len(cas) == 0 {
			aerr = errCertFailedValidation("no verified CA with auto-enrollment enabled issued this certificate")
			return nil
		}
		ca := cas[0]
		ident := &pb.Identity{TypeId: "Default", RoleAttributes: ca.body.GetIdentityRoles()}
		if claim := ca.body.GetExternalIdClaim(); claim != nil {
			ext, ok := externalIDOf(claim, leaf)
			if !ok {
				aerr = &api.Error{Status: http.StatusBadRequest, Code: CodeMissingCertClaim,
					Message: "The certificate is expected to contain an externalId, which was not found"}
				return nil
			}
			ident.ExternalId = ext
			if _, err := rd.Lookup(fsm.IdentityExternalID, ext); err == nil {
				aerr = errCertInUse()
				return nil
			} else if !errors.Is(err, fsm.ErrNotFound) {
				return err
			}
		} else if _, err := rd.Lookup(fsm.AuthenticatorFingerprint, fp); err == nil {
			aerr = errCertInUse()
			return nil
		} else if !errors.Is(err, fsm.ErrNotFound) {
			return err
		}
		identityID := uuid.NewString()
		if requested == "" {
			requested = identityID
		}
		name := formatIdentityName(ca.body.GetIdentityNameFormat(), nameValues{
			caName: ca.body.GetName(), caID: ca.rec.ID, commonName: leaf.Subject.CommonName,
			requestedName: requested, identityID: identityID,
		})
		if bad := api.BadText(name); bad != "" {
			aerr = api.Invalid("name", "the identity name made from the certificate "+bad, nil)
			return nil
		}
		if ident.Name, err = freeIdentityName(rd, name); err != nil {
			return err
		}
		op, err := fsm.CreateOp(fsm.KindIdentity, identityID, ident, nil)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		if ident.ExternalId != "" {
			// The identity is found by its external id at every login, so a
			// renewed certificate with the same claim keeps working.
			return nil
		}
		op, err = fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), &pb.Authenticator{
			IdentityId: identityID, Method: "cert", CertPem: string(pki.EncodeCertificatesPEM(leaf)),
			Fingerprint: fp, CaId: ca.rec.ID,
		}, nil)
		if err != nil {
			return err
		}
		ops = append(ops, op)
		return nil
	})
	if err != nil {
		return nil, api.Unhandled(err)
	}
	return ops, aerr
}

// freeIdentityName returns name, or if an identity has it, the first of
// name000001, name000002, ... that none has.
func freeIdentityName(rd *fsm.Reader, name string) (string, error) {
	candidate := name
	for n := 1; ; n++ {
		_, err := rd.Lookup(fsm.IdentityName, candidate)
		if errors.Is(err, fsm.ErrNotFound) {
			return candidate, nil
		}
		if err != nil {
			return "", err
		}
		if n > maxNameSuffix {
			return "", fmt.Errorf("no free identity name after %q%06d", name, maxNameSuffix)
		}
		candidate = fmt.Sprintf("%s%06d", name, n)
	}
}
