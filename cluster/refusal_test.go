package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A burst of refused connections writes one WARN line, and the next line
// after the interval counts the ones left out.
func TestRefusalLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	l := newRefusalLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), 50*time.Millisecond)
	for range 1000 {
		l.warn("cluster link handshake refused", "remote", "203.0.113.9:4444")
	}
	if n := strings.Count(buf.String(), "level=WARN"); n != 1 {
		t.Fatalf("%d WARN lines for a burst of 1000, want 1:\n%s", n, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	l.warn("cluster link handshake refused", "remote", "203.0.113.9:4444")
	if !strings.Contains(buf.String(), "refusalsNotLoggedSince=999") {
		t.Fatalf("the second line does not count the 999 left out:\n%s", buf.String())
	}
}
