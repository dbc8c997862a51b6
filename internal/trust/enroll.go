package trust

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"github.com/golang-jwt/jwt/v5"
)

// EnrollmentClaims are the claims of an enrollment JWT under the names
// OpenZiti SDKs read: em (method), ctrls (controller Edge Client API URLs),
// the one-time token as jti, and, for ottca, the CA's id.
type EnrollmentClaims struct {
	EnrollmentMethod string   `json:"em"`
	Controllers      []string `json:"ctrls,omitempty"`
	CA               string   `json:"ca,omitempty"`
	// Roots are the SHA-256 fingerprints (pki.FingerprintSHA256) of the
	// network's root CAs. They pin the trust bundle: without them a
	// man-in-the-middle could serve its own root with a certificate over
	// the network's real signing key, and every other check would pass.
	Roots []string `json:"roots,omitempty"`
	jwt.RegisteredClaims
}

// Enrollment is an enrollment JWT whose network has been checked: its
// signature verifies with a key of the network's JWKS that chains to the
// network's roots, and the node reached signed a fresh nonce with that key
// (itself, or the member holding it on its behalf).
type Enrollment struct {
	Claims *EnrollmentClaims
	// ClientAPI is the Edge Client API base the checks ran against.
	ClientAPI string
	// Bundle is the network's trust bundle; Roots the roots in force.
	Bundle, Roots []*x509.Certificate
	// KeyID is the key that signed the JWT.
	KeyID string
	// Client is an HTTPS client that verifies the network's roots: use it
	// for the enrollment request itself.
	Client *http.Client
}

// CheckEnrollment runs, before anything secret is sent, the checks a client
// can make of an enrollment JWT: fetch the trust bundle and JWKS from
// controller (the JWT's issuer when empty), verify the JWT with the key its
// kid names, and challenge that key with a fresh nonce.
func CheckEnrollment(ctx context.Context, token, controller string, opts Options) (*Enrollment, error) {
	unverified := &EnrollmentClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, unverified); err != nil {
		return nil, fmt.Errorf("enrollment JWT: %w", err)
	}
	if controller == "" {
		controller = unverified.Issuer
	}
	if controller == "" {
		return nil, errors.New("enrollment JWT has no issuer; name the controller to use")
	}
	api, err := ClientAPIURL(controller)
	if err != nil {
		return nil, err
	}
	// The pin is read before the signature is checked, which needs the
	// pinned roots; the signature check below then authenticates it.
	if len(unverified.Roots) == 0 && len(opts.Roots) == 0 {
		return nil, errors.New("enrollment JWT does not name the network's root (roots claim); pass the root CA to trust explicitly")
	}
	opts.RootFingerprints = unverified.Roots
	n, err := openNetwork(ctx, api, opts)
	if err != nil {
		return nil, err
	}
	if n.bundleErr != nil {
		return nil, n.bundleErr
	}
	claims := &EnrollmentClaims{}
	key, err := VerifyJWT(token, n.keys, claims)
	if err != nil {
		return nil, fmt.Errorf("enrollment %w", err)
	}
	switch {
	case claims.ExpiresAt == nil:
		return nil, errors.New("enrollment JWT: no expiry")
	case claims.EnrollmentMethod == "" || claims.EnrollmentMethod == EnrollmentMethodNetwork:
		return nil, fmt.Errorf("enrollment JWT: em %q is not an enrollment method", claims.EnrollmentMethod)
	case claims.ID == "":
		return nil, errors.New("enrollment JWT: no token (jti)")
	}
	if err := challenge(ctx, n.client, api, n.keys, key.KeyID); err != nil {
		return nil, fmt.Errorf("the controller could not prove it holds key %q: %w", key.KeyID, err)
	}
	return &Enrollment{Claims: claims, ClientAPI: api, Bundle: n.bundle, Roots: n.roots, KeyID: key.KeyID, Client: n.client}, nil
}
