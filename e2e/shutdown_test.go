package e2e

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A leader stops cleanly (status 0, well inside its own stop limit) while
// a follower it was replicating to is frozen: Raft's replication to that
// follower would wait for the transport's timeout, or forever with a full
// pipeline, so the node cuts its Raft connections once Raft had a moment
// to stop by itself. The fault harness found stops of over 15 s here.
func TestLeaderStopsBesideFrozenFollower(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	admin := c.Login(c.LBURL)
	leader := c.Leader(admin)
	var frozen *Node
	for _, n := range c.Nodes {
		if n != leader {
			frozen = n
			break
		}
	}
	_ = frozen.cmd.Process.Signal(syscall.SIGSTOP)
	defer func() { _ = frozen.cmd.Process.Signal(syscall.SIGCONT) }()
	// Writes the leader commits with the other follower, and replicates
	// (in vain) to the frozen one.
	for i := range 200 {
		if st, _, _ := c.Do(http.MethodPost, leader.URL()+"/edge/management/v1/identities", admin,
			map[string]any{"name": "stop-" + strings.Repeat("x", i%7) + time.Now().Format("150405.000000"), "type": "User", "isAdmin": false}); st != http.StatusCreated {
			t.Fatalf("write %d: %d", i, st)
		}
	}
	cmd := leader.cmd
	start := time.Now()
	leader.Stop()
	took := time.Since(start)
	log, err := os.ReadFile(leader.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), "shutdown is taking too long") || cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("the leader did not stop cleanly (after %v, %v)", took, cmd.ProcessState)
	}
	// Not a speed target: a stop that waits on the frozen peer takes the
	// transport's 10 s timeout or more (8.6 s was seen before the fix, and
	// over 15 s under the fault harness); one that does not, about 1 s.
	if took > 5*time.Second {
		t.Fatalf("the leader took %v to stop: it waited on the frozen follower", took)
	}
	t.Logf("the leader stopped in %v", took)
}
