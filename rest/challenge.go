package rest

import (
	"net/http"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// enrollChallenge has the member holding keyId sign the caller's nonce:
// this node for its own key, any other member over the cluster link, so the
// answer is right whichever node a load balancer chose. The answer is the
// spec's nonceSignature (no envelope): the raw JWS signature over the
// nonce's bytes, base64url without padding (see trust.NonceSignature), the
// JWS algorithm, the key id, and the trust bundle as PEM in caPool.
func (s *Server) enrollChallenge(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Nonce *string `json:"nonce"`
		KeyID *string `json:"keyId"`
	}
	if aerr := api.Decode(r, &body); aerr != nil {
		return aerr
	}
	switch {
	case body.Nonce == nil || *body.Nonce == "":
		return api.Invalid("nonce", "is required", nil)
	case pki.CheckNonce(*body.Nonce) != nil:
		return api.Invalid("nonce", "must be a UUID (8-4-4-4-12 hexadecimal digits)", *body.Nonce)
	case body.KeyID == nil || *body.KeyID == "":
		return api.Invalid("keyId", "is required", nil)
	}
	sig, err := s.node.SignChallenge(r.Context(), *body.KeyID, *body.Nonce)
	if err != nil {
		return api.FromCluster(err)
	}
	members, err := s.members()
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteJSON(w, http.StatusOK, trust.NewNonceSignature(sig.KeyID, sig.Algorithm, sig.Signature, s.trust.Bundle(members)))
	return nil
}
