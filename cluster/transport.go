package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/time/rate"

	"github.com/garrison-ctrl/garrison/pki"
)

// ALPN protocol names that split the one cluster port between Raft's own
// wire protocol and the HTTP link used for forwarding and probes. The link
// is plain HTTP/1.1: net/http closes connections whose ALPN protocol it has
// no handler for, and keeps the TLS state (the peer's id) for "http/1.1".
const (
	protoRaft = "garrison-raft/1"
	protoLink = "http/1.1"
)

const handshakeTimeout = 10 * time.Second

// TLSConfig holds what a node needs for mutual TLS with its peers.
type TLSConfig struct {
	// Cert is this node's certificate (chain) and key.
	Cert tls.Certificate
	// Roots is the cluster root CA pool; peers must chain to it.
	Roots *x509.CertPool
	// TrustDomain of the SPIFFE ids; empty means pki.DefaultTrustDomain.
	TrustDomain string
}

func (c TLSConfig) trustDomain() string {
	if c.TrustDomain == "" {
		return pki.DefaultTrustDomain
	}
	return c.TrustDomain
}

// verifyPeer refuses peers whose certificate is not a controller certificate
// of this cluster. Chaining to the root is not enough: the same root also
// vouches (through intermediates) for identities' client certificates.
func (c TLSConfig) verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer sent no certificate")
	}
	if _, ok := pki.ControllerIDFromCert(cs.PeerCertificates[0], c.trustDomain()); !ok {
		return fmt.Errorf("peer certificate %q is not a controller certificate of trust domain %q",
			cs.PeerCertificates[0].Subject.CommonName, c.trustDomain())
	}
	return nil
}

func (c TLSConfig) server() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{c.Cert},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        c.Roots,
		NextProtos:       []string{protoRaft, protoLink},
		VerifyConnection: c.verifyPeer,
	}
}

func (c TLSConfig) client(proto string) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		Certificates:     []tls.Certificate{c.Cert},
		RootCAs:          c.Roots,
		NextProtos:       []string{proto},
		VerifyConnection: c.verifyPeer,
	}
}

// peerID returns the controller id in a verified connection's peer cert.
func (c TLSConfig) peerID(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	return pki.ControllerIDFromCert(cs.PeerCertificates[0], c.trustDomain())
}

// mux accepts TLS connections on the cluster port and hands each to the
// Raft transport or the link server by the ALPN protocol the peer chose.
type mux struct {
	ln  net.Listener
	tls TLSConfig
	log *slog.Logger
	// admitRaft decides whether a peer may speak Raft to this node; set by
	// the Node once Raft exists (until then nobody may).
	admitRaft atomic.Pointer[func(id string) bool]
	raft      *chanListener
	link      *chanListener
	// refused logs refused connections, rate-limited.
	refused refusalLog
}

// refusalLog writes a refused connection's WARN line at most once per
// interval, with the count of those left out since (they go to DEBUG), so
// whoever can reach the cluster port cannot grow the log at will.
type refusalLog struct {
	log     *slog.Logger
	limit   rate.Sometimes
	dropped atomic.Int64
}

func newRefusalLog(log *slog.Logger, interval time.Duration) refusalLog {
	return refusalLog{log: log, limit: rate.Sometimes{Interval: interval}}
}

func (l *refusalLog) warn(msg string, args ...any) {
	logged := false
	l.limit.Do(func() {
		logged = true
		l.log.Warn(msg, append(args, "refusalsNotLoggedSince", l.dropped.Swap(0))...)
	})
	if !logged {
		l.dropped.Add(1)
		l.log.Debug(msg, args...)
	}
}

func listen(addr string, tc TLSConfig, log *slog.Logger) (*mux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on cluster address %s: %w", addr, err)
	}
	m := &mux{
		ln:   ln,
		tls:  tc,
		log:  log,
		raft: newChanListener(ln.Addr()),
		link: newChanListener(ln.Addr()),
		// One line per 10 s shows an attack or a misconfigured peer.
		refused: newRefusalLog(log, 10*time.Second),
	}
	go m.serve()
	return m, nil
}

func (m *mux) serve() {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			m.raft.Close()
			m.link.Close()
			return
		}
		go m.handshake(conn)
	}
}

func (m *mux) handshake(conn net.Conn) {
	tc := tls.Server(conn, m.tls.server())
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		m.refused.warn("cluster link handshake refused", "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	var target *chanListener
	switch tc.ConnectionState().NegotiatedProtocol {
	case protoRaft:
		// hashicorp/raft believes whatever server id an RPC claims, so
		// only members (by certificate) may reach it at all.
		id, _ := m.tls.peerID(ptr(tc.ConnectionState()))
		admit := m.admitRaft.Load()
		if admit == nil || !(*admit)(id) {
			m.refused.warn("cluster link: refused Raft connection from a non-member", "peer", id, "remote", conn.RemoteAddr().String())
			tc.Close()
			return
		}
		target = m.raft
	case protoLink:
		target = m.link
	default:
		m.refused.warn("cluster link: peer chose no known protocol", "remote", conn.RemoteAddr().String())
		tc.Close()
		return
	}
	if !target.deliver(tc) {
		tc.Close()
	}
}

func (m *mux) Close() error { return m.ln.Close() }

func ptr[T any](v T) *T { return &v }

// chanListener is a net.Listener fed by the mux.
type chanListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// raftLayer is the raft.StreamLayer over the mux. It keeps every Raft
// connection it made or accepted, so that a stopping node can cut them:
// hashicorp/raft's Shutdown waits for its replication goroutines, and one
// waiting on a peer that does not answer (frozen, cut off) waits for the
// transport's 10 s timeout, or longer for a full pipeline.
type raftLayer struct {
	*chanListener
	tls       TLSConfig
	advertise net.Addr

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	cut   bool
	// life ends dials in progress when the connections are cut: a dial
	// to a frozen peer would wait out its whole timeout in the TLS
	// handshake.
	life    context.Context
	endLife context.CancelFunc
}

func newRaftLayer(ln *chanListener, tc TLSConfig, advertise net.Addr) *raftLayer {
	r := &raftLayer{chanListener: ln, tls: tc, advertise: advertise}
	r.life, r.endLife = context.WithCancel(context.Background())
	return r
}

func (r *raftLayer) Addr() net.Addr { return r.advertise }

func (r *raftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: r.tls.client(protoRaft)}
	parent := context.Background()
	if r.life != nil {
		parent = r.life
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("dial raft peer %s: %w", address, err)
	}
	return r.track(conn)
}

// Accept hands Raft the mux's next Raft connection, kept for cutAll.
// After cutAll it closes what arrives and goes on waiting until the
// listener closes: hashicorp/raft logs every Accept error as a failure,
// and peers redial a stopping node every few milliseconds.
func (r *raftLayer) Accept() (net.Conn, error) {
	for {
		conn, err := r.chanListener.Accept()
		if err != nil {
			return nil, err
		}
		if tracked, err := r.track(conn); err == nil {
			return tracked, nil
		}
	}
}

func (r *raftLayer) track(conn net.Conn) (net.Conn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cut {
		conn.Close()
		return nil, net.ErrClosed
	}
	if r.conns == nil {
		r.conns = map[net.Conn]struct{}{}
	}
	r.conns[conn] = struct{}{}
	return &trackedConn{Conn: conn, layer: r}, nil
}

// cutAll closes every Raft connection, ends the dials in progress and
// refuses any connection from now on.
func (r *raftLayer) cutAll() {
	if r.endLife != nil {
		r.endLife()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cut = true
	for c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// trackedConn leaves its layer's set when closed.
type trackedConn struct {
	net.Conn
	layer *raftLayer
}

func (c *trackedConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c.Conn)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}

// tcpAddr is a net.Addr for the advertised address, which may be a name.
type tcpAddr string

func (a tcpAddr) Network() string { return "tcp" }
func (a tcpAddr) String() string  { return string(a) }
