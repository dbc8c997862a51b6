package edge

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTotpCodesAndSteps(t *testing.T) {
	secret, err := NewTotpSecret()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_015, 0)
	code, err := TotpCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	step, ok := TotpStep(secret, code, now)
	if !ok || step != now.Unix()/30 {
		t.Fatalf("the current code: %d %v", step, ok)
	}
	// The previous step's code is accepted (skew) as that step; one from
	// two steps ago is not.
	prev, _ := TotpCode(secret, now.Add(-30*time.Second))
	if step, ok := TotpStep(secret, prev, now); !ok || step != now.Unix()/30-1 {
		t.Fatalf("the previous code: %d %v", step, ok)
	}
	old, _ := TotpCode(secret, now.Add(-90*time.Second))
	if _, ok := TotpStep(secret, old, now); ok && old != code && old != prev {
		t.Fatal("a code three steps old was accepted")
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", "12 456"} {
		if _, ok := TotpStep(secret, bad, now); ok {
			t.Fatalf("accepted %q", bad)
		}
	}
	u, err := url.Parse(TotpURL(secret, "alice bob"))
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != secret || u.Query().Get("issuer") != "Garrison" {
		t.Fatalf("provisioning url %v %v", u, err)
	}
	if png, err := TotpQR(u.String()); err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		t.Fatalf("qr code: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes()
	if err != nil || len(codes) != RecoveryCodeCount {
		t.Fatalf("%v %v", codes, err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 8 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if HashRecoveryCode(codes[0]) != HashRecoveryCode(" "+strings.ToLower(codes[0])+" ") {
		t.Fatal("a recovery code's hash depends on case or spaces")
	}
}
