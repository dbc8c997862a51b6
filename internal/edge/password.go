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

// argon2id parameters: OWASP's second recommended setting (19 MiB, two
// passes, one lane), which keeps a login near 20-40 ms on a small core.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// HashPassword returns a PHC-format argon2id hash. It runs before a
// command is replicated, so every node stores the same hash.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
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

// DummyHash is a hash to verify against when a username does not exist, so
// that a failed login takes as long whether or not the user exists. It is
// made on first use: hashing costs 19 MiB and tens of milliseconds, which
// the CLI should not pay at every start.
var DummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("garrison-timing-equaliser")
	if err != nil {
		return ""
	}
	return h
})

// Username and password limits, from the spec's definitions.
const (
	MinUsername, MaxUsername = 4, 100
	MinPassword, MaxPassword = 5, 100
)
