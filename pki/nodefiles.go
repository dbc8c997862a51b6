package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// File names inside a node directory.
const (
	caFileName               = "ca.pem"
	intermediateCertFileName = "intermediate.pem"
	intermediateKeyFileName  = "intermediate.key"
	serverCertFileName       = "server.pem"
	serverKeyFileName        = "server.key"
	signingCertFileName      = "signing.pem"
	signingKeyFileName       = "signing.key"
)

// File modes: keys are private to the controller's user, certificates are
// public material.
const (
	keyFileMode  fs.FileMode = 0o600
	certFileMode fs.FileMode = 0o644
	dirFileMode  fs.FileMode = 0o700
)

// NodeFiles holds the absolute paths of a node directory's PKI files.
type NodeFiles struct {
	// Dir is the node directory.
	Dir string
	// CA is the cluster root certificate (root only), the trust anchor
	// peers verify each other against.
	CA string
	// IntermediateCert is the node's intermediate CA certificate, which
	// signs the node's server and signing certificates and, later, identity
	// certificates enrolled through this node.
	IntermediateCert string
	// IntermediateKey is the intermediate CA's private key.
	IntermediateKey string
	// ServerCert is the node TLS certificate followed by the intermediate.
	ServerCert string
	// ServerKey is the node TLS private key.
	ServerKey string
	// SigningCert is the JWT signing certificate followed by the
	// intermediate.
	SigningCert string
	// SigningKey is the JWT signing private key.
	SigningKey string
}

// NodeFilesIn returns the file paths of the node directory dir without
// touching the file system. Relative directories are made absolute against
// the current working directory.
func NodeFilesIn(dir string) NodeFiles {
	abs, err := filepath.Abs(dir)
	if err != nil {
		// Abs only fails when the working directory is unknown; a cleaned
		// relative path is the most useful thing left to return.
		abs = filepath.Clean(dir)
	}
	return NodeFiles{
		Dir:              abs,
		CA:               filepath.Join(abs, caFileName),
		IntermediateCert: filepath.Join(abs, intermediateCertFileName),
		IntermediateKey:  filepath.Join(abs, intermediateKeyFileName),
		ServerCert:       filepath.Join(abs, serverCertFileName),
		ServerKey:        filepath.Join(abs, serverKeyFileName),
		SigningCert:      filepath.Join(abs, signingCertFileName),
		SigningKey:       filepath.Join(abs, signingKeyFileName),
	}
}

// Files returns every file path in f (not Dir), in the order CreateNodeFiles
// writes them.
func (f NodeFiles) Files() []string {
	return []string{f.CA, f.IntermediateCert, f.IntermediateKey, f.ServerCert, f.ServerKey, f.SigningCert, f.SigningKey}
}

// CreateNodeFiles populates dir (created with mode 0700 if missing) with a
// node's PKI material:
//
//   - ca.pem: the cluster root certificate only, which peers trust;
//   - intermediate.pem / intermediate.key: a per-node intermediate CA signed
//     by root, which later signs identity certificates for this node;
//   - server.pem / server.key: the node certificate (see IssueNodeCert),
//     issued by the intermediate, followed by the intermediate;
//   - signing.pem / signing.key: the JWT signing certificate (see
//     IssueSigningCert), issued by the intermediate, followed by the
//     intermediate.
//
// root must be a self-signed CA. The intermediate gets
// DefaultIntermediateValidity (capped at root's expiry); req.Validity
// applies to the server and signing certificates.
//
// Existing files are never overwritten, since replacing an intermediate
// would orphan every identity it issued: if any target exists the call fails
// with an error wrapping fs.ErrExist before anything is written. If writing
// fails midway, the files written so far are removed.
func CreateNodeFiles(root *CA, dir string, req NodeCertRequest) (NodeFiles, error) {
	if dir == "" {
		return NodeFiles{}, errors.New("pki: create node files: directory must not be empty")
	}
	if err := root.validate(); err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files: root CA: %w", err)
	}
	// ca.pem must be the trust anchor itself; writing an intermediate there
	// would make peers trust only part of the cluster.
	if !isSelfSigned(root.Cert) {
		return NodeFiles{}, fmt.Errorf("pki: create node files: CA %q is not a self-signed root", root.Cert.Subject.CommonName)
	}
	if err := checkNodeName(req.Name); err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
	}
	files := NodeFilesIn(dir)
	for _, p := range files.Files() {
		_, err := os.Lstat(p)
		if err == nil {
			return NodeFiles{}, fmt.Errorf("pki: create node files: %s: %w", p, fs.ErrExist)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
		}
	}

	inter, err := root.NewIntermediateCA(req.Name+" Intermediate CA", DefaultIntermediateValidity)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files for %q: %w", req.Name, err)
	}
	interKeyPEM, err := EncodePrivateKeyPEM(inter.Key)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files for %q: %w", req.Name, err)
	}
	serverPEM, serverKeyPEM, err := inter.IssueNodeCert(req)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
	}
	signingPEM, signingKeyPEM, err := inter.IssueSigningCert(req.Name, req.TrustDomain, req.Validity)
	if err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
	}

	if err := os.MkdirAll(files.Dir, dirFileMode); err != nil {
		return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
	}
	writes := []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{files.CA, EncodeCertificatesPEM(root.Cert), certFileMode},
		{files.IntermediateCert, EncodeCertificatesPEM(inter.chain()...), certFileMode},
		{files.IntermediateKey, interKeyPEM, keyFileMode},
		{files.ServerCert, serverPEM, certFileMode},
		{files.ServerKey, serverKeyPEM, keyFileMode},
		{files.SigningCert, signingPEM, certFileMode},
		{files.SigningKey, signingKeyPEM, keyFileMode},
	}
	var written []string
	for _, w := range writes {
		if err := writeFileExclusive(w.path, w.data, w.mode); err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
			return NodeFiles{}, fmt.Errorf("pki: create node files: %w", err)
		}
		written = append(written, w.path)
	}
	return files, nil
}
