package cluster

import (
	"context"
	"crypto"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// signingNode is a node with a signing key that records itself with its
// real cluster address, signing chain and key id, as `garrison run` does.
type signingNode struct {
	*Node
	kid string
	pub crypto.PublicKey
}

// signingChain issues a signing certificate for name and returns its chain
// PEM, key, key id and public key.
func signingChain(t *testing.T, ca *testCA, name string) ([]byte, crypto.Signer, string, crypto.PublicKey) {
	t.Helper()
	chainPEM, keyPEM, err := ca.inter.IssueSigningCert(name, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertificatesPEM(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := pki.KeyID(certs[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return chainPEM, key, kid, certs[0].PublicKey
}

func startSigningNode(t *testing.T, ca *testCA, name string) *signingNode {
	t.Helper()
	chainPEM, key, kid, pub := signingChain(t, ca, name)
	// The port is only known once the node listens; until then the record
	// goes out without an address and is rewritten on the next round.
	var addr atomic.Pointer[string]
	n := startNodeWith(t, ca, name, t.TempDir(), func(c *Config) {
		c.ChallengeSigners = []*ChallengeSigner{{Key: key, KeyID: kid}}
		c.Self = func() *pb.Controller {
			rec := &pb.Controller{SigningCertPem: string(chainPEM), SigningKid: kid}
			if a := addr.Load(); a != nil {
				rec.CtrlAddress = "tls:" + *a
			}
			return rec
		}
	})
	a := n.Address()
	addr.Store(&a)
	return &signingNode{Node: n, kid: kid, pub: pub}
}

// waitForAddresses waits until n has a controller record with a cluster
// address for each of the named members.
func waitForAddresses(t *testing.T, n *Node, names ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		missing := ""
		for _, name := range names {
			rec, err := n.Store().Get(fsm.KindController, name)
			if err != nil {
				missing = name
				continue
			}
			if c, _ := fsm.As[*pb.Controller](rec); c.GetCtrlAddress() == "" {
				missing = name
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never learnt the cluster address of %s", n.ID(), missing)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestChallenge(t *testing.T) {
	ca := newTestCA(t)
	var s []*signingNode
	var nodes []*Node
	for _, name := range []string{"n1", "n2", "n3"} {
		sn := startSigningNode(t, ca, name)
		s, nodes = append(s, sn), append(nodes, sn.Node)
	}
	formCluster(t, nodes)
	for _, n := range nodes {
		waitForAddresses(t, n, "n1", "n2", "n3")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("node2's key asked at node1 is signed by node2", func(t *testing.T) {
		nonce := uuid.NewString()
		sig, err := s[0].SignChallenge(ctx, s[1].kid, nonce)
		if err != nil {
			t.Fatalf("SignChallenge: %v", err)
		}
		if sig.SignedBy != "n2" || sig.KeyID != s[1].kid || sig.Algorithm != "ES256" {
			t.Fatalf("signed by %s with key %s (%s), want n2, %s, ES256", sig.SignedBy, sig.KeyID, sig.Algorithm, s[1].kid)
		}
		if err := pki.VerifyNonce(s[1].pub, sig.Algorithm, nonce, sig.Signature); err != nil {
			t.Fatalf("signature does not verify against node2's public key: %v", err)
		}
		if err := pki.VerifyNonce(s[0].pub, sig.Algorithm, nonce, sig.Signature); err == nil {
			t.Fatal("signature verifies against node1's key: node1 signed it")
		}
	})

	t.Run("every key through every node", func(t *testing.T) {
		for _, at := range s {
			for _, holder := range s {
				nonce := uuid.NewString()
				sig, err := at.SignChallenge(ctx, holder.kid, nonce)
				if err != nil {
					t.Fatalf("%s's key at %s: %v", holder.ID(), at.ID(), err)
				}
				if sig.SignedBy != holder.ID() {
					t.Errorf("%s's key at %s: signed by %s", holder.ID(), at.ID(), sig.SignedBy)
				}
				if err := pki.VerifyNonce(holder.pub, sig.Algorithm, nonce, sig.Signature); err != nil {
					t.Errorf("%s's key at %s: %v", holder.ID(), at.ID(), err)
				}
			}
		}
	})

	t.Run("unknown and forged key ids", func(t *testing.T) {
		_, _, otherKid, _ := signingChain(t, ca, "never-joined")
		for _, kid := range []string{otherKid, "not-a-kid", ""} {
			if _, err := s[0].SignChallenge(ctx, kid, uuid.NewString()); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("kid %q: want ErrUnknownKey, got %v", kid, err)
			}
		}
	})

	t.Run("bad nonce", func(t *testing.T) {
		for _, kid := range []string{s[0].kid, s[1].kid} {
			for _, nonce := range []string{"", "abc", "a.b", "0f8fad5bd9cb469fa16570867728950e"} {
				if _, err := s[0].SignChallenge(ctx, kid, nonce); !errors.Is(err, ErrInvalid) {
					t.Errorf("nonce %q for %s: want ErrInvalid, got %v", nonce, kid, err)
				}
			}
		}
	})

	t.Run("unreachable holder", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := ln.Addr().String()
		ln.Close()
		chainPEM, _, ghostKid, _ := signingChain(t, ca, "ghost")
		op, err := fsm.CreateOp(fsm.KindController, "ghost", &pb.Controller{
			Name: "ghost", CtrlAddress: "tls:" + closed, SigningCertPem: string(chainPEM), SigningKid: ghostKid,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res, _, err := s[0].Apply(ctx, &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}); err != nil || res.GetCode() != pb.Result_OK {
			t.Fatalf("record ghost: %v %v", res, err)
		}
		if _, err := s[0].SignChallenge(ctx, ghostKid, uuid.NewString()); !errors.Is(err, ErrKeyHolderUnavailable) {
			t.Fatalf("want ErrKeyHolderUnavailable, got %v", err)
		}
	})

	t.Run("link path admits only members", func(t *testing.T) {
		req := &pb.ChallengeRequest{KeyId: s[1].kid, Nonce: uuid.NewString()}
		holder := s[1].Address()
		var re *RemoteError

		outsider := startNode(t, ca, "outsider", t.TempDir())
		resp := &pb.ChallengeResponse{}
		if _, err := outsider.link.call(ctx, holder, linkChallenge, req, resp); !errors.As(err, &re) || re.Code != codeNotAMember {
			t.Fatalf("non-member: want NOT_A_MEMBER, got %v", err)
		}
		if len(resp.GetSignature()) != 0 {
			t.Fatal("a non-member got a signature")
		}
		intruder := startNode(t, newTestCA(t), "intruder", t.TempDir())
		if _, err := intruder.link.call(ctx, holder, linkChallenge, req, &pb.ChallengeResponse{}); err == nil {
			t.Fatal("a foreign-CA peer got an answer")
		}
		// A member is answered only for the callee's own key and a UUID nonce.
		if _, err := s[0].link.call(ctx, holder, linkChallenge, &pb.ChallengeRequest{KeyId: s[2].kid, Nonce: req.Nonce}, &pb.ChallengeResponse{}); !errors.As(err, &re) || re.Code != codeNotFound {
			t.Fatalf("another member's key: want NOT_FOUND, got %v", err)
		}
		if _, err := s[0].link.call(ctx, holder, linkChallenge, &pb.ChallengeRequest{KeyId: s[1].kid, Nonce: "x.y"}, &pb.ChallengeResponse{}); !errors.As(err, &re) || re.Code != codeBadRequest {
			t.Fatalf("bad nonce: want BAD_REQUEST, got %v", err)
		}
		if _, err := s[0].link.call(ctx, holder, linkChallenge, req, &pb.ChallengeResponse{}); err != nil {
			t.Fatalf("member: %v", err)
		}
	})
}
