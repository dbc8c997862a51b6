package edge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func TestHashPasswordFormat(t *testing.T) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, DefaultArgon2.MemoryKiB, DefaultArgon2.Passes, DefaultArgon2.Lanes)
	if !strings.HasPrefix(h, want) {
		t.Fatalf("hash %q does not start with %q", h, want)
	}
	p, ok := parseLikeVerify(h)
	if !ok || p.saltLen != argonSaltLen || p.keyLen != argonKeyLen {
		t.Fatalf("hash %q: parsed %+v %v, want salt %d key %d bytes", h, p, ok, argonSaltLen, argonKeyLen)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse battery staple", "x", "", "pässwörd ✓", strings.Repeat("long", 64), "nul\x00byte"} {
		h, err := HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		ok, err := VerifyPassword(h, pw)
		if err != nil || !ok {
			t.Errorf("VerifyPassword(HashPassword(%q)) = %v, %v; want true, nil", pw, ok, err)
		}
		for _, wrong := range []string{pw + "x", strings.ToUpper(pw) + "!", "nul"} {
			if wrong == pw {
				continue
			}
			ok, err := VerifyPassword(h, wrong)
			if err != nil || ok {
				t.Errorf("VerifyPassword(hash of %q, %q) = %v, %v; want false, nil", pw, wrong, ok, err)
			}
		}
	}
}

func TestHashPasswordSalted(t *testing.T) {
	a, err := HashPassword("same password")
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same password")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of one password are equal: %s", a)
	}
	pa, _ := parseLikeVerify(a)
	pb, _ := parseLikeVerify(b)
	if pa.salt == pb.salt {
		t.Errorf("two hashes share the salt %q", pa.salt)
	}
}

// TestVerifyPasswordHonoursRecordedParams: a hash made with other argon2id
// parameters than today's still verifies (parameters can be raised later).
func TestVerifyPasswordHonoursRecordedParams(t *testing.T) {
	h := cheapHash("pw", 64, 3, 2, 16, 32)
	if ok, err := VerifyPassword(h, "pw"); err != nil || !ok {
		t.Fatalf("VerifyPassword(%s) = %v, %v", h, ok, err)
	}
	if ok, err := VerifyPassword(h, "pw2"); err != nil || ok {
		t.Fatalf("wrong password: %v, %v", ok, err)
	}
	// The same key under other recorded parameters must not verify.
	tampered := strings.Replace(h, "t=3", "t=4", 1)
	if ok, err := VerifyPassword(tampered, "pw"); err != nil || ok {
		t.Fatalf("tampered parameters: %v, %v", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good := cheapHash("pw", 8, 1, 1, 16, 32)
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	cases := map[string]string{
		"empty":                "",
		"dollar":               "$",
		"plain text":           "password",
		"bcrypt":               "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":              "$argon2i$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"argon2d":              "$argon2d$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"no leading dollar":    "argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"missing key":          "$argon2id$v=19$m=8,t=1,p=1$" + salt,
		"empty key":            "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$",
		"extra part":           good + "$extra",
		"old version":          "$argon2id$v=16$m=8,t=1,p=1$" + salt + "$" + key,
		"no version":           "$argon2id$$m=8,t=1,p=1$" + salt + "$" + key,
		"version not a number": "$argon2id$v=x$m=8,t=1,p=1$" + salt + "$" + key,
		"params swapped":       "$argon2id$v=19$t=1,m=8,p=1$" + salt + "$" + key,
		"params missing":       "$argon2id$v=19$m=8$" + salt + "$" + key,
		"zero threads":         "$argon2id$v=19$m=8,t=1,p=0$" + salt + "$" + key,
		"zero time":            "$argon2id$v=19$m=8,t=0,p=1$" + salt + "$" + key,
		"negative memory":      "$argon2id$v=19$m=-8,t=1,p=1$" + salt + "$" + key,
		"threads overflow":     "$argon2id$v=19$m=8,t=1,p=256$" + salt + "$" + key,
		"time overflow":        "$argon2id$v=19$m=8,t=4294967296,p=1$" + salt + "$" + key,
		"memory over 4 GiB":    "$argon2id$v=19$m=4194305,t=1,p=1$" + salt + "$" + key,
		"salt not base64":      "$argon2id$v=19$m=8,t=1,p=1$%%%%$" + key,
		"key not base64":       "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$!!!!",
		"padded base64 key":    "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"unicode":              "$argon2id$v=19$m=８,t=1,p=1$" + salt + "$" + key,
		"only dollars":         "$$$$$",
		"nul bytes":            "$argon2id\x00$v=19$m=8,t=1,p=1$" + salt + "$" + key,
		"huge param digits":    "$argon2id$v=19$m=" + strings.Repeat("9", 400) + ",t=1,p=1$" + salt + "$" + key,
		"space in key":         "$argon2id$v=19$m=8,t=1,p=1$" + salt + "$" + key[:10] + " " + key[10:],
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			ok, err := verifyNoPanic(t, h, "pw")
			if err == nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", h, ok, err)
			}
		})
	}
}

func verifyNoPanic(t *testing.T, hash, password string) (ok bool, err error) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("VerifyPassword(%q) panicked: %v", hash, v)
		}
	}()
	return VerifyPassword(hash, password)
}

// Bounds VerifyPassword should put on the parameters a stored hash records
// (proposed; see TestVerifyPasswordBoundsCost). Hashes from HashPassword
// (19 MiB, t=2, p=1, 16-byte salt, 32-byte key) are well inside.
const (
	boundMaxMemKiB  = 256 * 1024
	boundMaxTime    = 10
	boundMaxThreads = 16
	boundMinKey     = 16
	boundMaxKey     = 64
	boundMinSalt    = 8
	boundMaxSalt    = 64
)

// argonParams are the parameters a hash records, as VerifyPassword reads them.
type argonParams struct {
	mem, time       uint32
	threads         uint8
	salt            string
	saltLen, keyLen int
	saltB, keyB     []byte
}

// parseLikeVerify reads a hash exactly as VerifyPassword (password.go) does
// today and reports whether VerifyPassword would go on to run argon2 on it.
// Keep it in step with password.go: the fuzz target relies on it to decide
// whether calling VerifyPassword in-process is safe.
func parseLikeVerify(hash string) (argonParams, bool) {
	var p argonParams
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, false
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.mem, &p.time, &p.threads); err != nil || p.threads == 0 || p.time == 0 || p.mem > 1<<22 {
		return p, false
	}
	b64 := base64.RawStdEncoding
	var err error
	if p.saltB, err = b64.DecodeString(parts[4]); err != nil {
		return p, false
	}
	if p.keyB, err = b64.DecodeString(parts[5]); err != nil || len(p.keyB) == 0 {
		return p, false
	}
	p.salt, p.saltLen, p.keyLen = parts[4], len(p.saltB), len(p.keyB)
	return p, true
}

func (p argonParams) withinBounds() bool {
	return p.mem <= boundMaxMemKiB && p.time <= boundMaxTime && p.threads <= boundMaxThreads &&
		p.keyLen >= boundMinKey && p.keyLen <= boundMaxKey && p.saltLen >= boundMinSalt && p.saltLen <= boundMaxSalt
}

// cheap: running argon2 with p in this process costs at most about 64 MiB
// and a few tens of milliseconds.
func (p argonParams) cheap() bool {
	mem := uint64(p.mem)
	if floor := 8 * uint64(p.threads); mem < floor { // argon2's minimum
		mem = floor
	}
	return mem <= 64*1024 && mem*uint64(p.time) <= 64*1024 && p.keyLen <= 1<<16
}

// cheapHash builds an argon2id hash with the given parameters.
func cheapHash(password string, mem, time uint32, threads uint8, saltLen, keyLen int) string {
	salt := bytes.Repeat([]byte{0x5a}, saltLen)
	key := argon2.IDKey([]byte(password), salt, time, mem, threads, uint32(keyLen))
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, mem, time, threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// TestVerifyPasswordBoundsCost: a stored hash decides how much memory and
// time VerifyPassword spends. It caps memory at 4 GiB and nothing else, so
// a hash recording m=4194304 allocates 4 GiB per login and one recording a
// huge t never returns. Costly cases run in a child process that is killed
// past a memory or time budget, so the test is safe to run on any machine.
func TestVerifyPasswordBoundsCost(t *testing.T) {
	t.Parallel()
	salt := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 16))
	key := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))
	hash := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	for _, c := range []struct{ name, hash string }{
		{"memory 4 GiB", hash("m=4194304,t=1,p=1")},
		{"memory just over 256 MiB", hash("m=262145,t=1,p=1")},
		{"time 2^32-1", hash("m=8,t=4294967295,p=1")},
		{"time 11", hash("m=8,t=11,p=1")},
		{"threads 255", hash("m=2040,t=1,p=255")},
		{"key 1 byte", cheapHash("pw", 8, 1, 1, 16, 1)},
		{"key 65 bytes", cheapHash("pw", 8, 1, 1, 16, 65)},
		{"salt empty", cheapHash("pw", 8, 1, 1, 0, 32)},
		{"salt 65 bytes", cheapHash("pw", 8, 1, 1, 65, 32)},
	} {
		t.Run(c.name, func(t *testing.T) {
			checkRejectedSafely(t, c.hash, "pw")
		})
	}
}

// checkRejectedSafely requires VerifyPassword to refuse hash (out of the
// proposed bounds) with an error, running it in a child process when it
// could be costly.
func checkRejectedSafely(t *testing.T, hash, password string) {
	t.Helper()
	p, parses := parseLikeVerify(hash)
	if !parses || p.cheap() {
		if ok, err := verifyNoPanic(t, hash, password); err == nil {
			t.Fatalf("BUG: VerifyPassword accepted parameters outside the bounds (m=%d KiB t=%d p=%d salt=%dB key=%dB) and answered %v, nil; it should refuse them with an error",
				p.mem, p.time, p.threads, p.saltLen, p.keyLen, ok)
		}
		return
	}
	res := verifyInChild(t, hash, password)
	switch {
	case res.overMemory:
		t.Fatalf("BUG: VerifyPassword accepted m=%d KiB t=%d p=%d and the child grew by more than %d MiB before it was stopped; it should refuse such parameters",
			p.mem, p.time, p.threads, childMemBudget>>20)
	case res.timedOut:
		t.Fatalf("BUG: VerifyPassword accepted m=%d KiB t=%d p=%d and was still running after %v; it should refuse such parameters",
			p.mem, p.time, p.threads, childTimeout)
	case res.err == "":
		t.Fatalf("BUG: VerifyPassword accepted parameters outside the bounds (m=%d KiB t=%d p=%d salt=%dB key=%dB) and answered ok=%v after %v",
			p.mem, p.time, p.threads, p.saltLen, p.keyLen, res.ok, res.took)
	}
}

const (
	childHashEnv     = "GARRISON_REST_VERIFY_CHILD_HASH"
	childPasswordEnv = "GARRISON_REST_VERIFY_CHILD_PASSWORD"
	childMemBudget   = 300 << 20
	childTimeout     = 3 * time.Second
)

type childResult struct {
	ok                   bool
	err                  string
	overMemory, timedOut bool
	took                 time.Duration
}

// verifyInChild runs VerifyPassword(hash, password) in a child process (this
// test binary, running TestVerifyPasswordChild) that stops itself once it
// has grown by childMemBudget and is killed after childTimeout.
func verifyInChild(t *testing.T, hash, password string) childResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestVerifyPasswordChild$", "-test.v")
	cmd.Env = append(os.Environ(),
		childHashEnv+"="+hex.EncodeToString([]byte(hash)),
		childPasswordEnv+"="+hex.EncodeToString([]byte(password)))
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res := childResult{took: time.Since(start)}
	if ctx.Err() != nil {
		res.timedOut = true
		return res
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "CHILD-OVER-MEMORY") {
			res.overMemory = true
			return res
		}
		if _, rest, found := strings.Cut(line, "CHILD-RESULT "); found {
			okStr, errStr, _ := strings.Cut(rest, " ")
			res.ok = okStr == "ok=true"
			res.err = strings.TrimPrefix(errStr, "err=")
			if res.err == "<nil>" {
				res.err = ""
			}
			return res
		}
	}
	t.Fatalf("child process gave no result (%v):\n%s", err, out)
	return res
}

// TestVerifyPasswordChild is the child side of verifyInChild; it does
// nothing in a normal run.
func TestVerifyPasswordChild(t *testing.T) {
	hx, ok := os.LookupEnv(childHashEnv)
	if !ok {
		t.Skip("child process of verifyInChild only")
	}
	hash, err1 := hex.DecodeString(hx)
	password, err2 := hex.DecodeString(os.Getenv(childPasswordEnv))
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	base, err := rss()
	if err != nil {
		t.Skipf("cannot watch memory: %v", err)
	}
	go func() {
		for {
			time.Sleep(2 * time.Millisecond)
			if n, err := rss(); err == nil && n > base+childMemBudget {
				fmt.Printf("\nCHILD-OVER-MEMORY rss=%d\n", n)
				os.Exit(3)
			}
		}
	}()
	ok2, verr := VerifyPassword(string(hash), string(password))
	fmt.Printf("\nCHILD-RESULT ok=%v err=%v\n", ok2, verr)
}

// rss is this process's resident set size in bytes.
func rss() (uint64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, fmt.Errorf("statm: %q", data)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, err
	}
	return pages * uint64(os.Getpagesize()), nil
}

// FuzzVerifyPassword: whatever the stored hash and the password,
// VerifyPassword never panics, answers the same twice, agrees with argon2id
// run on the parameters the hash records, refuses (with an error) anything
// the parse rejects, and refuses parameters outside the bounds above without
// spending unbounded memory or time (those run in a budgeted child process).
// Hashes within the bounds but too costly to verify many times are skipped.
func FuzzVerifyPassword(f *testing.F) {
	real, err := HashPassword("correct horse")
	if err != nil {
		f.Fatal(err)
	}
	cheap := cheapHash("pw", 8, 1, 1, 16, 32)
	for _, seed := range [][2]string{
		{real, "correct horse"},
		{real, "wrong horse"},
		{cheap, "pw"},
		{cheap, ""},
		{cheapHash("pw", 64, 2, 4, 8, 64), "pw"},
		{"", ""},
		{"$argon2id$", "x"},
		{"$argon2id$v=19$m=8,t=1,p=1$$", "x"},
		{"$argon2id$v=19$m=8,t=1,p=0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x"},
		{"$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x"},
		{"$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x"},
		{"garbage", "garbage"},
		{"$$$$$", "\x00"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, parses := parseLikeVerify(hash)
		switch {
		case !parses:
			// Rejected before argon2 runs: cheap to call.
			if ok, err := verifyNoPanic(t, hash, password); err == nil || ok {
				t.Fatalf("VerifyPassword(%q) = %v, %v; want false and an error for a malformed hash", hash, ok, err)
			}
		case !p.withinBounds():
			checkRejectedSafely(t, hash, password)
		case p.cheap():
			ok1, err1 := verifyNoPanic(t, hash, password)
			ok2, err2 := verifyNoPanic(t, hash, password)
			if err1 != nil || err2 != nil {
				t.Fatalf("VerifyPassword(%q) refused a well-formed hash within bounds: %v / %v", hash, err1, err2)
			}
			if ok1 != ok2 {
				t.Fatalf("VerifyPassword(%q, %q) answered %v then %v", hash, password, ok1, ok2)
			}
			want := argon2.IDKey([]byte(password), p.saltB, p.time, p.mem, p.threads, uint32(p.keyLen))
			if ref := subtle.ConstantTimeCompare(want, p.keyB) == 1; ref != ok1 {
				t.Fatalf("VerifyPassword(%q, %q) = %v, argon2id says %v", hash, password, ok1, ref)
			}
		default:
			// Within bounds but too slow to run per fuzz input.
		}
	})
}

// Hashes record their parameters: a hash made under other costs verifies
// after a change, and parameters no node could verify are refused.
func TestHasherParameters(t *testing.T) {
	cheap, err := NewHasher(Argon2Params{MemoryKiB: 3 * 1024, Passes: 1, Lanes: 4})
	if err != nil {
		t.Fatal(err)
	}
	h, err := cheap.Hash("a password")
	if err != nil || !strings.Contains(h, "$m=3072,t=1,p=4$") {
		t.Fatalf("hash %q %v", h, err)
	}
	if ok, err := VerifyPassword(h, "a password"); !ok || err != nil {
		t.Fatalf("verify under other parameters: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword(cheap.Dummy(), "anything"); ok {
		t.Fatal("the dummy hash verified a password")
	}
	def, err := NewHasher(Argon2Params{})
	if err != nil || def.Params != DefaultArgon2 {
		t.Fatalf("zero parameters: %v %v", def, err)
	}
	for _, bad := range []Argon2Params{{MemoryKiB: 512, Passes: 1, Lanes: 1}, {MemoryKiB: 1 << 20, Passes: 1, Lanes: 1},
		{MemoryKiB: 4096, Passes: 0, Lanes: 1}, {MemoryKiB: 4096, Passes: 11, Lanes: 1}, {MemoryKiB: 4096, Passes: 1, Lanes: 0}} {
		if _, err := NewHasher(bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

// BenchmarkArgon2 measures one password verification on one core, the
// ceiling of password logins per core, at Garrison's default costs and at
// OpenZiti's.
//
//	go test -run '^$' -bench BenchmarkArgon2 -cpu 1 ./internal/edge/
func BenchmarkArgon2(b *testing.B) {
	for _, c := range []struct {
		name string
		p    Argon2Params
	}{{"default", DefaultArgon2}, {"openziti", Argon2Params{MemoryKiB: 3 * 1024, Passes: 1, Lanes: 4}}} {
		b.Run(c.name, func(b *testing.B) {
			h, err := c.p.Hash("benchmark password")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if ok, err := VerifyPassword(h, "benchmark password"); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
		})
	}
}
