package cluster

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Errors of SignChallenge, besides ErrInvalid for a malformed nonce.
var (
	// ErrUnknownKey: no member of the cluster holds the named signing key.
	ErrUnknownKey = errors.New("no cluster member holds that signing key")
	// ErrKeyHolderUnavailable: the member holding the key did not answer
	// (offline, unreachable, or its record is being updated); retry later.
	ErrKeyHolderUnavailable = errors.New("the cluster member holding that signing key is unavailable")
)

// challengeTimeout bounds one forwarded challenge, so a client behind a
// load balancer gets an answer (or a retryable error) quickly.
const challengeTimeout = 5 * time.Second

// ChallengeSigner is a node's signing key and its key id (pki.KeyID of the
// public key, the signing_kid of the node's controller record).
type ChallengeSigner struct {
	Key   crypto.Signer
	KeyID string
}

// ChallengeSignature is the answer to a nonce challenge.
type ChallengeSignature struct {
	KeyID string
	// Algorithm is the JWS algorithm name (ES256, RS256, ...).
	Algorithm string
	// Signature is the raw JWS signature over the nonce (pki.SignNonce).
	Signature []byte
	// SignedBy is the id of the member that signed, as its certificate
	// proved on the cluster link (or this node's own id).
	SignedBy string
}

// SignChallenge has the nonce signed by the member holding keyID: this node
// if the key is its own, otherwise the member whose controller record names
// the key, over the cluster link. So a client can verify any member's key
// through whichever node a load balancer picked. A forwarded answer is
// checked against the holder's recorded certificate before it is returned.
//
// Errors: ErrInvalid (nonce is not a UUID), ErrUnknownKey,
// ErrKeyHolderUnavailable.
func (n *Node) SignChallenge(ctx context.Context, keyID, nonce string) (*ChallengeSignature, error) {
	if err := pki.CheckNonce(nonce); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if s := n.challengeSigner(keyID); s != nil {
		return n.signChallengeLocal(s, nonce)
	}
	holder, pub, err := n.keyHolder(keyID)
	if err != nil {
		return nil, err
	}
	addr := stripScheme(holder.GetCtrlAddress())
	if addr == "" {
		return nil, fmt.Errorf("%w: member %s has no cluster address", ErrKeyHolderUnavailable, holder.GetName())
	}
	cctx, cancel := context.WithTimeout(ctx, challengeTimeout)
	defer cancel()
	resp := &pb.ChallengeResponse{}
	peer, err := n.link.call(cctx, addr, linkChallenge, &pb.ChallengeRequest{KeyId: keyID, Nonce: nonce}, resp)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Code == codeNotFound {
			// The holder no longer has this key (rotated, record not yet
			// rewritten): for the client the key does not exist.
			return nil, fmt.Errorf("%w: member %s: %s", ErrUnknownKey, holder.GetName(), re.Message)
		}
		return nil, fmt.Errorf("%w: member %s at %s: %v", ErrKeyHolderUnavailable, holder.GetName(), addr, err)
	}
	if peer != holder.GetName() {
		return nil, fmt.Errorf("%w: %s answered for member %s", ErrKeyHolderUnavailable, peer, holder.GetName())
	}
	if err := pki.VerifyNonce(pub, resp.GetAlgorithm(), nonce, resp.GetSignature()); err != nil {
		n.log.Warn("a member's challenge signature does not match its recorded signing certificate", "member", peer, "kid", keyID, "err", err)
		return nil, fmt.Errorf("%w: member %s: %v", ErrKeyHolderUnavailable, peer, err)
	}
	return &ChallengeSignature{KeyID: keyID, Algorithm: resp.GetAlgorithm(), Signature: resp.GetSignature(), SignedBy: peer}, nil
}

// challengeSigner is this node's key with id keyID, nil if it holds none.
func (n *Node) challengeSigner(keyID string) *ChallengeSigner {
	for _, s := range n.cfg.ChallengeSigners {
		if s != nil && s.KeyID == keyID && keyID != "" {
			return s
		}
	}
	return nil
}

func (n *Node) signChallengeLocal(s *ChallengeSigner, nonce string) (*ChallengeSignature, error) {
	alg, sig, err := pki.SignNonce(s.Key, nonce)
	if err != nil {
		return nil, fmt.Errorf("sign challenge with key %s: %w", s.KeyID, err)
	}
	return &ChallengeSignature{KeyID: s.KeyID, Algorithm: alg, Signature: sig, SignedBy: n.cfg.ID}, nil
}

// keyHolder finds the other member whose controller record carries keyID
// (its signing key or its API key), and the public key of the recorded
// certificate.
func (n *Node) keyHolder(keyID string) (*pb.Controller, crypto.PublicKey, error) {
	if keyID == "" {
		return nil, nil, fmt.Errorf("%w: empty key id", ErrUnknownKey)
	}
	var holder *pb.Controller
	err := n.cfg.Store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
			if c, ok := fsm.As[*pb.Controller](rec); ok && (c.GetSigningKid() == keyID || c.GetApiKid() == keyID) {
				holder = c
			}
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read controller records: %w", err)
	}
	// A record naming this node with a key it does not hold is stale.
	if holder == nil || holder.GetName() == n.cfg.ID {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownKey, keyID)
	}
	chain := holder.GetSigningCertPem()
	if holder.GetApiKid() == keyID {
		chain = holder.GetApiCertPem()
	}
	certs, err := pki.ParseCertificatesPEM([]byte(chain))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: member %s has no usable signing certificate: %v", ErrUnknownKey, holder.GetName(), err)
	}
	return holder, certs[0].PublicKey, nil
}

// linkSignChallenge answers a member's forwarded challenge for this node's
// own key only: forwarding is one hop, so two nodes with stale records can
// never bounce a request between them.
func (n *Node) linkSignChallenge(w http.ResponseWriter, r *http.Request) {
	if !n.fromMember(w, r) {
		return
	}
	req := &pb.ChallengeRequest{}
	if err := readLinkBody(r, req); err != nil {
		writeLinkError(w, http.StatusBadRequest, codeBadRequest, "undecodable challenge: "+err.Error())
		return
	}
	s := n.challengeSigner(req.GetKeyId())
	if s == nil {
		writeLinkError(w, http.StatusNotFound, codeNotFound, fmt.Sprintf("member %s does not hold key %q", n.cfg.ID, req.GetKeyId()))
		return
	}
	if err := pki.CheckNonce(req.GetNonce()); err != nil {
		writeLinkError(w, http.StatusBadRequest, codeBadRequest, err.Error())
		return
	}
	sig, err := n.signChallengeLocal(s, req.GetNonce())
	if err != nil {
		writeLinkError(w, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	writeLinkProto(w, &pb.ChallengeResponse{KeyId: sig.KeyID, Algorithm: sig.Algorithm, Signature: sig.Signature})
}
