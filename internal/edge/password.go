// Package edge holds the Edge controller's domain services, the work behind
// the REST API that is not HTTP: password hashing, access-token signing and
// checking, enrollment JWT minting, the cluster's trust material read from
// the replicated member records, API session bookkeeping and the default
// admin. It never imports net/http; package rest maps its errors to answers.
package edge

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id costs of new password hashes. Each hash
// records its own, so hashes made under other parameters keep verifying
// after a change.
type Argon2Params struct {
	MemoryKiB uint32 `yaml:"memoryKiB"`
	Passes    uint32 `yaml:"passes"`
	Lanes     uint8  `yaml:"lanes"`
}

// DefaultArgon2 is OWASP's second recommended setting (19 MiB, two passes,
// one lane), which keeps a login near 20-40 ms on a small core.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Passes: 2, Lanes: 1}

// Validate refuses parameters a node could not verify (VerifyPassword's
// bounds) or too weak to mean anything (under 1 MiB).
func (p Argon2Params) Validate() error {
	switch {
	case p.MemoryKiB < 1024 || p.MemoryKiB > maxArgonMemoryKiB:
		return fmt.Errorf("argon2id memory %d KiB: must be 1024 to %d", p.MemoryKiB, maxArgonMemoryKiB)
	case p.Passes < 1 || p.Passes > maxArgonTime:
		return fmt.Errorf("argon2id passes %d: must be 1 to %d", p.Passes, maxArgonTime)
	case p.Lanes < 1 || p.Lanes > maxArgonThreads:
		return fmt.Errorf("argon2id lanes %d: must be 1 to %d", p.Lanes, maxArgonThreads)
	}
	return nil
}

const (
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns a PHC-format argon2id hash with the default costs.
func HashPassword(password string) (string, error) { return DefaultArgon2.Hash(password) }

// Hash returns a PHC-format argon2id hash of password under p. It runs
// before a command is replicated, so every node stores the same hash.
func (p Argon2Params) Hash(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Passes, p.Lanes, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// Bounds on the parameters a stored hash may record: the hash decides how
// much memory and time a login spends, so a hash outside them is refused.
const (
	maxArgonMemoryKiB                = 256 * 1024
	maxArgonTime                     = 10
	maxArgonThreads                  = 16
	minArgonKeyLen, maxArgonKeyLen   = 16, 64
	minArgonSaltLen, maxArgonSaltLen = 8, 64
)

// VerifyPassword checks password against a hash made by HashPassword (with
// whatever parameters the hash records).
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil || threads == 0 || threads > maxArgonThreads || iters == 0 || iters > maxArgonTime || mem > maxArgonMemoryKiB {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minArgonSaltLen || len(salt) > maxArgonSaltLen {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < minArgonKeyLen || len(want) > maxArgonKeyLen {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Hasher hashes new passwords under its parameters and keeps a hash to
// verify against when a username does not exist, so that a failed login
// takes as long whether or not the user exists. The dummy is made on first
// use: hashing costs megabytes and milliseconds, which the CLI should not
// pay at every start.
type Hasher struct {
	Params Argon2Params
	Dummy  func() string
}

// NewHasher returns a Hasher for p (zero: DefaultArgon2).
func NewHasher(p Argon2Params) (*Hasher, error) {
	if p == (Argon2Params{}) {
		p = DefaultArgon2
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Hasher{Params: p, Dummy: sync.OnceValue(func() string {
		h, err := p.Hash("garrison-timing-equaliser")
		if err != nil {
			return ""
		}
		return h
	})}, nil
}

// Hash hashes password under the hasher's parameters.
func (h *Hasher) Hash(password string) (string, error) { return h.Params.Hash(password) }

// Username and password limits, from the spec's definitions.
const (
	MinUsername, MaxUsername = 4, 100
	MinPassword, MaxPassword = 5, 100
)
