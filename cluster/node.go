// Package cluster runs one Garrison node's Raft member: the mutual-TLS
// transport, bootstrap and membership changes, forwarding writes to the
// leader, waiting until a write is applied locally, and probing peers.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/buildinfo"
	"github.com/garrison-ctrl/garrison/internal/metrics"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Errors callers map to API answers.
var (
	// ErrNoLeader: no leader could be reached in time; the write was not
	// applied and may be retried.
	ErrNoLeader = errors.New("cluster has no leader")
	// ErrUnknownOutcome: the write was handed to a leader that then failed;
	// it may or may not have been applied.
	ErrUnknownOutcome = errors.New("outcome of the write is unknown")
	// ErrNotFound: a member named in a request does not exist.
	ErrNotFound = errors.New("member not found")
	// ErrInvalid: a request is malformed or cannot be carried out as asked.
	ErrInvalid = errors.New("invalid cluster request")
	// ErrNotMember: the leader refused this node's request because the node
	// is not (any longer) a member.
	ErrNotMember = errors.New("this node is not a member of the cluster")
	// ErrAlreadyInitialized: bootstrap on a node that already has state.
	ErrAlreadyInitialized = errors.New("node already has cluster state")

	errNotLeader = errors.New("not the leader")
)

// Config configures a Node.
type Config struct {
	// ID is the Raft server id: the node name, as in its certificate.
	ID string
	// DataDir holds raft.db (log and stable store) and snapshots/.
	DataDir string
	// BindAddress is the host:port the cluster listener binds.
	BindAddress string
	// AdvertiseAddress is the host:port peers dial; default the address the
	// listener got (which resolves a ":0" port).
	AdvertiseAddress string
	TLS              TLSConfig
	// Store is the replicated state machine.
	Store *fsm.Store
	Log   *slog.Logger
	// RaftLogOutput receives hashicorp/raft's own log; default stderr.
	RaftLogOutput io.Writer

	// SnapshotThreshold and TrailingLogs bound the retained log: a node
	// that falls further behind catches up by installing a snapshot.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	// LeaderWait is how long a write waits for a leader (during an
	// election) before it fails with ErrNoLeader.
	LeaderWait time.Duration
	// ApplyTimeout bounds one Raft apply on the leader.
	ApplyTimeout time.Duration
	// HeartbeatTimeout and ElectionTimeout tune failure detection; zero
	// keeps hashicorp/raft's defaults.
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	// CommitTimeout is how long the leader waits, with nothing new to send,
	// before telling followers the commit index. A follower answers a
	// forwarded write only once it has applied it, so this bounds the
	// latency of writes through followers when traffic is light. Default
	// 10ms (raft's is 50ms): a few hundred small RPCs a second when idle.
	CommitTimeout time.Duration

	// Self describes this node for the replicated controllers list. The
	// node records it when it is a member and a leader is known.
	Self func() *pb.Controller
	// ChallengeSigners are the keys this node holds (its signing key and
	// its API key), used to answer nonce challenges for their key ids (here
	// or forwarded by another member).
	ChallengeSigners []*ChallengeSigner
	// Metrics receives the node's Raft, write and read-barrier figures;
	// nil for none.
	Metrics *metrics.Metrics
}

func (c *Config) setDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.RaftLogOutput == nil {
		c.RaftLogOutput = os.Stderr
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 8192
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 10240
	}
	if c.SnapshotInterval == 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
	if c.LeaderWait == 0 {
		c.LeaderWait = 5 * time.Second
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.CommitTimeout == 0 {
		c.CommitTimeout = 10 * time.Millisecond
	}
}

// Node is one running cluster member.
type Node struct {
	cfg       Config
	log       *slog.Logger
	raft      *raft.Raft
	boltStore *raftboltdb.BoltStore
	logs      raft.LogStore
	trans     *raft.NetworkTransport
	layer     *raftLayer
	// commitSent is the highest commit index handed to the local Raft
	// (commit.go), so that many waiters for one write send one request.
	commitSent atomic.Uint64
	mux        *mux
	linkSrv    *http.Server
	link       *linkClient

	// reads batches this node's read barriers; leaderReads batches the
	// leader's answers to them (its own and its followers').
	reads       *batch[readPoint]
	leaderReads *batch[*pb.ReadIndexResponse]
	// active is, on the leader, the followers serving clients (commit.go).
	active *activeFollowers

	peersMu sync.Mutex
	peers   map[string]*peerStatus

	stop chan struct{}
	// life is cancelled at shutdown: the node's own writes (its
	// registration) stop waiting then.
	life         context.Context
	endLife      context.CancelFunc
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

type peerStatus struct {
	lastContact time.Time
	version     string
	applied     uint64
}

func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 256
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	rc.SnapshotInterval = c.SnapshotInterval
	rc.CommitTimeout = c.CommitTimeout
	if c.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = c.HeartbeatTimeout
		rc.LeaderLeaseTimeout = c.HeartbeatTimeout / 2
	}
	if c.ElectionTimeout > 0 {
		rc.ElectionTimeout = c.ElectionTimeout
	}
	rc.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Info, Output: c.RaftLogOutput})
	return rc
}

type stores struct {
	bolt  *raftboltdb.BoltStore
	logs  raft.LogStore
	snaps *raft.FileSnapshotStore
}

func openStores(c *Config, logger hclog.Logger) (*stores, error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	bs, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(c.DataDir, "raft.db")})
	if err != nil {
		return nil, fmt.Errorf("open raft log store: %w", err)
	}
	logs, err := raft.NewLogCache(1024, bs)
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.DataDir, 2, logger)
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	return &stores{bolt: bs, logs: logs, snaps: snaps}, nil
}

// Start opens the node's stores and joins whatever cluster its stored
// configuration names. A node without state waits to be bootstrapped or
// added by a leader.
func Start(cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.ID == "" || cfg.Store == nil || cfg.BindAddress == "" {
		return nil, fmt.Errorf("cluster config needs ID, Store and BindAddress")
	}
	rc := cfg.raftConfig()
	st, err := openStores(&cfg, rc.Logger)
	if err != nil {
		return nil, err
	}
	// The state db persists across restarts and already holds everything up
	// to its applied index; restoring an older snapshot over it on every
	// start would only cost time. Restore only if the db is behind.
	if snaps, err := st.snaps.List(); err == nil {
		rc.NoSnapshotRestoreOnStart = len(snaps) == 0 || cfg.Store.AppliedIndex() >= snaps[0].Index
	}
	m, err := listen(cfg.BindAddress, cfg.TLS, cfg.Log)
	if err != nil {
		st.bolt.Close()
		return nil, err
	}
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = m.ln.Addr().String()
	}
	layer := newRaftLayer(m.raft, cfg.TLS, tcpAddr(cfg.AdvertiseAddress))
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: 5, Timeout: 10 * time.Second, Logger: rc.Logger,
	})
	n := &Node{active: newActiveFollowers()}
	r, err := raft.NewRaft(rc, pushFSM{Store: cfg.Store, n: n}, st.logs, st.bolt, st.snaps, trans)
	if err != nil {
		trans.Close()
		m.Close()
		st.bolt.Close()
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.cfg, n.log, n.raft, n.boltStore, n.logs, n.trans, n.mux, n.layer = cfg, cfg.Log, r, st.bolt, st.logs, trans, m, layer
	n.link = newLinkClient(cfg.TLS)
	n.peers = map[string]*peerStatus{}
	n.stop = make(chan struct{})
	n.life, n.endLife = context.WithCancel(context.Background())
	n.reads = newBatch(cfg.LeaderWait, n.readRound)
	n.leaderReads = newBatch(cfg.LeaderWait, n.leaderReadIndex)
	admit := n.admitRaft
	m.admitRaft.Store(&admit)
	n.linkSrv = &http.Server{Handler: n.linkHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = n.linkSrv.Serve(m.link) }()
	n.wg.Add(4)
	go n.pushLoop()
	go n.probeLoop()
	go n.registerLoop()
	go n.watchLeader()
	n.registerMetrics()
	return n, nil
}

// Shutdown stops the node; later calls do nothing. The state store is the
// caller's to close.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		close(n.stop)
		n.endLife()
		// Raft's shutdown waits for its goroutines; those waiting on a
		// peer that does not answer end only when their connection does.
		// Past a moment for a clean stop, the connections are cut.
		stopped := make(chan error, 1)
		go func() { stopped <- n.raft.Shutdown().Error() }()
		var err error
		select {
		case err = <-stopped:
		case <-time.After(shutdownGrace):
			n.log.Info("raft is still stopping; closing its peer connections")
			n.layer.cutAll()
			err = <-stopped
		}
		n.linkSrv.Close()
		n.mux.Close()
		n.trans.Close()
		n.wg.Wait()
		if cerr := n.boltStore.Close(); err == nil {
			err = cerr
		}
		n.shutdownErr = err
	})
	return n.shutdownErr
}

// shutdownGrace is how long Shutdown lets Raft stop cleanly before it
// cuts the peer connections Raft may be waiting on.
const shutdownGrace = time.Second

// ID is this node's Raft server id.
func (n *Node) ID() string { return n.cfg.ID }

// Address is the advertised cluster address (host:port).
func (n *Node) Address() string { return n.cfg.AdvertiseAddress }

// Store is the node's replicated state.
func (n *Node) Store() *fsm.Store { return n.cfg.Store }

// Snapshot snapshots the state now and compacts the log down to the last
// TrailingLogs entries, as the threshold would later. A member that needs a
// compacted entry is then sent the snapshot. Nothing new since the last
// snapshot is not an error. Raft refuses to snapshot before its state
// machine goroutine has applied the latest configuration, which a
// restarted node replays from its log (its state is already there, so it
// serves meanwhile); raft's own applied index runs ahead of that
// goroutine, so Snapshot retries that refusal, up to ctx, instead of
// predicting it.
func (n *Node) Snapshot(ctx context.Context) error {
	for {
		err := n.raft.Snapshot().Error()
		if err == nil || errors.Is(err, raft.ErrNothingNewToSnapshot) {
			return nil
		}
		// hashicorp/raft has no sentinel for this transient refusal.
		if !strings.Contains(err.Error(), "wait until the configuration entry") {
			return fmt.Errorf("snapshot: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("snapshot: %w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// IsLeader reports whether this node is the Raft leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Leader returns the current leader's id and address, empty if unknown.
func (n *Node) Leader() (id, address string) {
	addr, lid := n.raft.LeaderWithID()
	return string(lid), string(addr)
}

// Bootstrap makes this node a one-member cluster. It fails with
// ErrAlreadyInitialized on a node that already has Raft state.
func (n *Node) Bootstrap() error {
	f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(n.cfg.ID), Address: raft.ServerAddress(n.cfg.AdvertiseAddress),
	}}})
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrCantBootstrap) {
			return ErrAlreadyInitialized
		}
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

// WaitForLeader blocks until some leader is known.
func (n *Node) WaitForLeader(ctx context.Context) error {
	for {
		if id, _ := n.Leader(); id != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Apply replicates cmd and returns its result once this node's state has
// applied it, so the caller can read its own write here. A follower
// forwards the command to the leader. During an election Apply waits up to
// LeaderWait for a leader before failing with ErrNoLeader.
func (n *Node) Apply(ctx context.Context, cmd *pb.Command) (res *pb.Result, index uint64, err error) {
	start, leading := time.Now(), n.IsLeader()
	defer func() { n.cfg.Metrics.ObserveWrite(!leading, err, time.Since(start)) }()
	retryUntil := time.Now().Add(n.cfg.LeaderWait)
	for {
		a, err := n.applyAttempt(ctx, cmd)
		if err == nil {
			if werr := n.waitApplied(ctx, a.index, a.commit, a.leaderID, a.leaderAddr); werr != nil {
				return nil, a.index, fmt.Errorf("%w: applied at index %d but not yet on this node: %v", ErrUnknownOutcome, a.index, werr)
			}
			return a.result, a.index, nil
		}
		// A command with a dedup_id takes effect once however often it is
		// sent: one whose outcome is unknown (a leader that froze or lost
		// its leadership while holding it) is sent again, to whichever
		// node leads by then, until the outcome is known or the caller's
		// deadline passes.
		if errors.Is(err, ErrUnknownOutcome) && cmd.GetDedupId() != "" && ctx.Err() == nil {
			retryUntil = time.Now().Add(n.cfg.LeaderWait)
			select {
			case <-ctx.Done():
				return nil, 0, err
			case <-n.stop:
				return nil, 0, err // shutting down: the outcome stays unknown
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		if !retryable(err) {
			return nil, 0, err
		}
		if time.Now().After(retryUntil) {
			return nil, 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		select {
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-n.stop:
			return nil, 0, fmt.Errorf("%w: the node is shutting down", ErrNoLeader)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// AttemptTimeout bounds one attempt of a command with a dedup_id sent to
// the leader: past it the attempt's outcome is unknown and Apply sends the
// command again (to a new leader, if one was elected meanwhile).
const AttemptTimeout = 2 * time.Second

// applyAttempt is one applyOnce, bounded by AttemptTimeout when the command
// may safely be sent again.
func (n *Node) applyAttempt(ctx context.Context, cmd *pb.Command) (applied, error) {
	if cmd.GetDedupId() == "" || n.IsLeader() {
		return n.applyOnce(ctx, cmd)
	}
	actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	a, err := n.applyOnce(actx, cmd)
	if err != nil && actx.Err() != nil && ctx.Err() == nil {
		return a, fmt.Errorf("%w: the leader did not answer within %s: %v", ErrUnknownOutcome, AttemptTimeout, err)
	}
	return a, err
}

// applied is the outcome of one apply attempt; a forwarded one also says
// which leader vouched for the commit.
type applied struct {
	result               *pb.Result
	index                uint64
	commit               *pb.CommitPoint
	leaderID, leaderAddr string
}

// retryable errors are those where the command certainly was not appended.
func retryable(err error) bool {
	var le *linkErr
	var re *RemoteError
	switch {
	case errors.Is(err, errNotLeader), errors.Is(err, ErrNoLeader):
		return true
	case errors.As(err, &le):
		return le.beforeSend
	case errors.As(err, &re):
		return re.Code == codeNotLeader || re.Code == codeNoLeader
	}
	return false
}

func (n *Node) applyOnce(ctx context.Context, cmd *pb.Command) (applied, error) {
	if n.IsLeader() {
		res, index, err := n.applyLocal(ctx, cmd)
		return applied{result: res, index: index}, err
	}
	id, addr := n.Leader()
	if addr == "" {
		return applied{}, ErrNoLeader
	}
	resp := &pb.ApplyResponse{}
	if _, err := n.link.call(ctx, addr, linkApply, cmd, resp); err != nil {
		if retryable(err) {
			return applied{}, err
		}
		var le *linkErr
		if errors.As(err, &le) {
			return applied{}, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
		return applied{}, fromRemote(err)
	}
	return applied{result: resp.GetResult(), index: resp.GetIndex(), commit: resp.GetCommit(), leaderID: id, leaderAddr: addr}, nil
}

// applyLocal runs cmd through Raft on the leader.
func (n *Node) applyLocal(ctx context.Context, cmd *pb.Command) (*pb.Result, uint64, error) {
	// A command this leader's state machine cannot apply must never be
	// committed: every node like this one would stop on it.
	if err := n.cfg.Store.CheckCommand(cmd); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: encode command: %v", ErrInvalid, err)
	}
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		// raft.Apply reads a zero timeout as "wait forever".
		if timeout = time.Until(dl); timeout <= 0 {
			return nil, 0, fmt.Errorf("%w: %v", ErrNoLeader, context.DeadlineExceeded)
		}
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, 0, errNotLeader
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, 0, fmt.Errorf("%w: node is shutting down", ErrNoLeader)
		default:
			return nil, 0, fmt.Errorf("%w: %v", ErrUnknownOutcome, err)
		}
	}
	res, ok := f.Response().(*pb.Result)
	if !ok {
		return nil, 0, fmt.Errorf("%w: state machine returned %T", ErrUnknownOutcome, f.Response())
	}
	return res, f.Index(), nil
}

func (n *Node) info() *pb.NodeInfo {
	lid, _ := n.Leader()
	return &pb.NodeInfo{
		Id: n.cfg.ID, Version: buildinfo.Version, AppliedIndex: n.cfg.Store.AppliedIndex(),
		LeaderId: lid, State: n.raft.State().String(),
	}
}

// Info asks the node at a cluster address who it is. The id comes from the
// peer's certificate, not from what it says.
func (n *Node) Info(ctx context.Context, address string) (string, *pb.NodeInfo, error) {
	info := &pb.NodeInfo{}
	id, err := n.link.call(ctx, address, linkInfo, nil, info)
	if err != nil {
		return "", nil, err
	}
	return id, info, nil
}

// configuration returns the latest Raft configuration.
func (n *Node) configuration() ([]raft.Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("read raft configuration: %w", err)
	}
	return f.Configuration().Servers, nil
}

func (n *Node) isMember(id string) bool {
	servers, err := n.configuration()
	if err != nil {
		return false
	}
	for _, s := range servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// admitRaft lets members speak Raft to this node. A node that is in no
// configuration yet (waiting to be added) accepts its first leader, which
// it can only get from an operator's add-member on a real cluster member.
func (n *Node) admitRaft(id string) bool {
	servers, err := n.configuration()
	if err != nil || id == "" {
		return false
	}
	if len(servers) == 0 {
		return true
	}
	for _, s := range servers {
		if string(s.ID) == id {
			return true
		}
	}
	return false
}

// stripScheme accepts "tls:host:port" (OpenZiti's form) as well as host:port.
func stripScheme(addr string) string {
	return strings.TrimPrefix(addr, "tls:")
}
