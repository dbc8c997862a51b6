package edge

import (
	"crypto/x509"
	"slices"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Member is one controller record with its parsed signing chain.
type Member struct {
	Record *pb.Controller
	// Chain is the signing certificate followed by that node's
	// intermediate; nil when the record's certificate does not parse.
	Chain []*x509.Certificate
	// APIChain is the chain of the certificate the node presents on its API
	// listener, whose key signs enrollment JWTs; nil if unknown.
	APIChain []*x509.Certificate
}

// Keys are the member's published key chains: its signing key's and its
// API key's (the same API key on every node of a cluster with a shared
// API certificate).
func (m Member) Keys() [][]*x509.Certificate {
	var out [][]*x509.Certificate
	for _, c := range [][]*x509.Certificate{m.Chain, m.APIChain} {
		if len(c) > 0 {
			out = append(out, c)
		}
	}
	return out
}

// Members reads every controller record, in id order, within an open read
// view. (A caller already holding a view must use it: a nested view waits
// for a waiting writer that waits for the outer view.)
func Members(rd *fsm.Reader) ([]Member, error) {
	var out []Member
	err := rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
		c, ok := fsm.As[*pb.Controller](rec)
		if !ok {
			return nil
		}
		m := Member{Record: c}
		if c.GetSigningCertPem() != "" {
			// An unreadable record must not hide the other members.
			m.Chain, _ = pki.ParseCertificatesPEM([]byte(c.GetSigningCertPem()))
		}
		if c.GetApiCertPem() != "" {
			m.APIChain, _ = pki.ParseCertificatesPEM([]byte(c.GetApiCertPem()))
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// Trust is what this node knows of the cluster's trust material: the
// cluster root, its own issuer, and its Edge Client API URL. Together with
// the member records it gives the bundle clients trust and the list of
// controllers tokens name, the same whichever node answers.
type Trust struct {
	// Roots are the cluster's root CA(s).
	Roots []*x509.Certificate
	// Issuer is this node's intermediate CA; nil if it has none.
	Issuer *pki.CA
	// ClientURL is this node's Edge Client API URL.
	ClientURL string
	// ClientAPI is the key of the Edge Client API in a controller record's
	// API addresses ("edge-client").
	ClientAPI string
}

// Intermediates are the CA certificates of the members' signing and API
// chains (each node's intermediate) and this node's own, for the moment before its
// record is replicated: the CAs that issue the cluster's certificates.
func (t *Trust) Intermediates(members []Member) []*x509.Certificate {
	var certs []*x509.Certificate
	for _, m := range members {
		for _, chain := range m.Keys() {
			for _, c := range chain {
				if c.IsCA {
					certs = append(certs, c)
				}
			}
		}
	}
	if t.Issuer != nil {
		certs = append(certs, t.Issuer.IssuerChain()...)
	}
	return pki.UniqueCerts(certs)
}

// Bundle is the cluster root(s) followed by every member's intermediate,
// each once, in a stable order: what a client must trust to verify any node
// and any certificate the cluster issues.
func (t *Trust) Bundle(members []Member) []*x509.Certificate {
	return pki.UniqueCerts(append(append([]*x509.Certificate(nil), t.Roots...), t.Intermediates(members)...))
}

// ClientURLs is every member's Edge Client API URL, this node's own
// included even before its record is replicated; sorted, each once.
func (t *Trust) ClientURLs(members []Member) []string {
	ctrls := []string{t.ClientURL}
	for _, m := range members {
		for _, a := range m.Record.GetApiAddresses()[t.ClientAPI].GetAddresses() {
			if a.GetUrl() != "" {
				ctrls = append(ctrls, a.GetUrl())
			}
		}
	}
	slices.Sort(ctrls)
	return slices.Compact(ctrls)
}

// RootFingerprints are the SHA-256 fingerprints of the roots, as enrollment
// JWTs pin them.
func (t *Trust) RootFingerprints() []string {
	out := make([]string, len(t.Roots))
	for i, c := range t.Roots {
		out[i] = pki.FingerprintSHA256(c)
	}
	return out
}
