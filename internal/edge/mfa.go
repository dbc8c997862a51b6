package edge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	qrcode "github.com/skip2/go-qrcode"
)

// TOTP as every authenticator app does it (RFC 6238 defaults): SHA-1, six
// digits, 30-second steps; a code of the step before or after the current
// one is accepted too, for clock skew.
const (
	totpPeriod  = 30
	totpDigits  = otp.DigitsSix
	totpSkew    = 1
	totpIssuer  = "Garrison"
	secretBytes = 20
)

// RecoveryCodeCount is how many recovery codes an enrollment has.
const RecoveryCodeCount = 20

// NewTotpSecret returns a new TOTP secret, base32 without padding.
func NewTotpSecret() (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: "x", Period: totpPeriod, SecretSize: secretBytes,
		Digits: totpDigits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	return key.Secret(), nil
}

// TotpURL is the otpauth:// URL of secret for account, which
// authenticator apps read from the QR code.
func TotpURL(secret, account string) string {
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + totpIssuer + ":" + account,
		RawQuery: url.Values{"secret": {secret}, "issuer": {totpIssuer}, "period": {strconv.Itoa(totpPeriod)},
			"digits": {"6"}, "algorithm": {"SHA1"}}.Encode()}
	return u.String()
}

// TotpQR is the PNG of the QR code of an otpauth URL.
func TotpQR(url string) ([]byte, error) {
	png, err := qrcode.Encode(url, qrcode.Medium, 256)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	return png, nil
}

// TotpStep checks a six-digit code against secret at now and returns the
// time step it belongs to (so it can be spent once), or false.
func TotpStep(secret, code string, now time.Time) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	if _, err := strconv.Atoi(code); err != nil {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for d := -totpSkew; d <= totpSkew; d++ {
		at := time.Unix((step+int64(d))*totpPeriod, 0)
		want, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
		if err == nil && want == code {
			return step + int64(d), true
		}
	}
	return 0, false
}

// TotpCode is the code of secret at t (for tests and tools).
func TotpCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
}

// recoveryAlphabet leaves out letters easily misread for digits.
const recoveryAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// NewRecoveryCodes returns RecoveryCodeCount random codes of 8 characters
// (40 bits each).
func NewRecoveryCodes() ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	buf := make([]byte, 8)
	for i := range codes {
		if _, err := rand.Read(buf); err != nil {
			return nil, fmt.Errorf("recovery code: %w", err)
		}
		for j, b := range buf {
			buf[j] = recoveryAlphabet[int(b)%len(recoveryAlphabet)]
		}
		codes[i] = string(buf)
	}
	return codes, nil
}

// HashRecoveryCode is how a recovery code is stored: its SHA-256 in hex
// (the codes are random, so a slow hash adds nothing), case-insensitive.
func HashRecoveryCode(code string) string {
	sum := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(code))))
	return hex.EncodeToString(sum[:])
}

// LooksLikeRecoveryCode reports whether code has the shape of a recovery
// code, so that other wrong codes are refused without a replicated write.
func LooksLikeRecoveryCode(code string) bool {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != 8 {
		return false
	}
	for _, c := range code {
		if !strings.ContainsRune(recoveryAlphabet, c) {
			return false
		}
	}
	return true
}
