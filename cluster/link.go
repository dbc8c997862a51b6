package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Paths on the cluster link. They are only reachable over mutual TLS with a
// controller certificate, never through the public API listener.
const (
	linkApply      = "/garrison/v1/apply"
	linkMembership = "/garrison/v1/membership"
	linkInfo       = "/garrison/v1/info"
	linkChallenge  = "/garrison/v1/challenge"
	linkReadIndex  = "/garrison/v1/read-index"
	linkCommit     = "/garrison/v1/commit"
)

// maxLinkBody bounds what a peer may send; a command is far smaller.
const maxLinkBody = 16 << 20

// Stable codes carried in pb.LinkError.
const (
	codeNoLeader       = "NO_LEADER"
	codeNotLeader      = "NOT_LEADER"
	codeNotFound       = "NOT_FOUND"
	codeBadRequest     = "BAD_REQUEST"
	codeUnknownOutcome = "UNKNOWN_OUTCOME"
	codeInternal       = "INTERNAL"
	codeNotAMember     = "NOT_A_MEMBER"
	// codeUnsupported: the peer does not serve the path (an older build).
	codeUnsupported = "UNSUPPORTED"
)

// linkClient talks to peers over the cluster link.
type linkClient struct {
	http *http.Client
	tls  TLSConfig
}

func newLinkClient(tc TLSConfig) *linkClient {
	dialer := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: tc.client(protoLink)}
	tr := &http.Transport{
		DialTLSContext:      dialer.DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &linkClient{http: &http.Client{Transport: tr}, tls: tc}
}

// dialError reports whether err happened before the request could reach the
// peer, in which case retrying elsewhere cannot apply a write twice.
func dialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// call posts req (nil for GET) and decodes the answer into resp. It returns
// the peer's controller id as proven by its certificate.
func (c *linkClient) call(ctx context.Context, addr, path string, req, resp proto.Message) (string, error) {
	method, body := http.MethodGet, []byte(nil)
	if req != nil {
		method = http.MethodPost
		var err error
		if body, err = proto.Marshal(req); err != nil {
			return "", fmt.Errorf("encode %s request: %w", path, err)
		}
	}
	hreq, err := http.NewRequestWithContext(ctx, method, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build %s request: %w", path, err)
	}
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return "", &linkErr{peer: addr, path: path, err: err, beforeSend: dialError(err)}
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxLinkBody))
	if err != nil {
		return "", &linkErr{peer: addr, path: path, err: err}
	}
	peer, _ := c.tls.peerID(hresp.TLS)
	if hresp.StatusCode != http.StatusOK {
		le := &pb.LinkError{}
		if err := proto.Unmarshal(data, le); err != nil || le.GetCode() == "" {
			code := codeInternal
			if hresp.StatusCode == http.StatusNotFound || hresp.StatusCode == http.StatusMethodNotAllowed {
				code = codeUnsupported
			}
			le = &pb.LinkError{Code: code, Message: fmt.Sprintf("HTTP %d from %s for %s", hresp.StatusCode, addr, path)}
		}
		return peer, &RemoteError{Code: le.GetCode(), Message: le.GetMessage()}
	}
	if resp != nil {
		if err := proto.Unmarshal(data, resp); err != nil {
			return peer, fmt.Errorf("decode %s answer from %s: %w", path, addr, err)
		}
	}
	return peer, nil
}

// linkErr is a transport failure talking to a peer.
type linkErr struct {
	peer, path string
	err        error
	beforeSend bool
}

func (e *linkErr) Error() string { return fmt.Sprintf("cluster link %s%s: %v", e.peer, e.path, e.err) }
func (e *linkErr) Unwrap() error { return e.err }

// RemoteError is an error a peer reported with a stable code.
type RemoteError struct {
	Code    string
	Message string
}

func (e *RemoteError) Error() string { return e.Code + ": " + e.Message }

func writeLinkError(w http.ResponseWriter, status int, code, msg string) {
	data, _ := proto.Marshal(&pb.LinkError{Code: code, Message: msg})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func writeLinkProto(w http.ResponseWriter, m proto.Message) {
	data, err := proto.Marshal(m)
	if err != nil {
		writeLinkError(w, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(data)
}

func readLinkBody(r *http.Request, m proto.Message) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxLinkBody))
	if err != nil {
		return err
	}
	return proto.Unmarshal(data, m)
}

// linkHandler serves the cluster link for node n.
func (n *Node) linkHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+linkInfo, func(w http.ResponseWriter, r *http.Request) {
		writeLinkProto(w, n.info())
	})
	mux.HandleFunc("POST "+linkApply, func(w http.ResponseWriter, r *http.Request) {
		if !n.fromMember(w, r) {
			return
		}
		cmd := &pb.Command{}
		if err := readLinkBody(r, cmd); err != nil {
			writeLinkError(w, http.StatusBadRequest, codeBadRequest, "undecodable command: "+err.Error())
			return
		}
		if !n.IsLeader() {
			writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "this node is not the leader")
			return
		}
		peer, _ := n.cfg.TLS.peerID(r.TLS)
		n.active.touch(peer)
		res, index, err := n.applyLocal(r.Context(), cmd)
		if err != nil {
			writeLinkFailure(w, err)
			return
		}
		writeLinkProto(w, &pb.ApplyResponse{Index: index, Result: res, Commit: n.commitPoint(index)})
	})
	mux.HandleFunc("POST "+linkMembership, func(w http.ResponseWriter, r *http.Request) {
		if !n.fromMember(w, r) {
			return
		}
		req := &pb.MembershipRequest{}
		if err := readLinkBody(r, req); err != nil {
			writeLinkError(w, http.StatusBadRequest, codeBadRequest, "undecodable membership request: "+err.Error())
			return
		}
		if !n.IsLeader() {
			writeLinkError(w, http.StatusMisdirectedRequest, codeNotLeader, "this node is not the leader")
			return
		}
		if err := n.membershipLocal(r.Context(), req); err != nil {
			writeLinkFailure(w, err)
			return
		}
		writeLinkProto(w, &pb.LinkError{})
	})
	mux.HandleFunc("POST "+linkChallenge, n.linkSignChallenge)
	mux.HandleFunc("POST "+linkReadIndex, n.linkReadIndex)
	mux.HandleFunc("POST "+linkCommit, n.linkLearnCommit)
	return mux
}

// fromMember admits writes only from nodes in the Raft configuration: a
// controller certificate alone does not make a node part of this cluster,
// and a removed member must not keep writing.
func (n *Node) fromMember(w http.ResponseWriter, r *http.Request) bool {
	id, ok := n.cfg.TLS.peerID(r.TLS)
	if !ok || !n.isMember(id) {
		writeLinkError(w, http.StatusForbidden, codeNotAMember, fmt.Sprintf("peer %q is not a member of this cluster", id))
		return false
	}
	return true
}

func writeLinkFailure(w http.ResponseWriter, err error) {
	var re *RemoteError
	switch {
	case errors.As(err, &re):
		writeLinkError(w, http.StatusConflict, re.Code, re.Message)
	case errors.Is(err, ErrNoLeader):
		writeLinkError(w, http.StatusServiceUnavailable, codeNoLeader, err.Error())
	case errors.Is(err, ErrUnknownOutcome):
		writeLinkError(w, http.StatusServiceUnavailable, codeUnknownOutcome, err.Error())
	case errors.Is(err, ErrNotFound):
		writeLinkError(w, http.StatusNotFound, codeNotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		writeLinkError(w, http.StatusBadRequest, codeBadRequest, err.Error())
	default:
		writeLinkError(w, http.StatusInternalServerError, codeInternal, err.Error())
	}
}

// fromRemote maps a peer's error code back to this package's errors so
// callers see the same error whether the work ran here or on the leader.
func fromRemote(err error) error {
	var re *RemoteError
	if !errors.As(err, &re) {
		return err
	}
	switch re.Code {
	case codeNoLeader:
		return fmt.Errorf("%w: %s", ErrNoLeader, re.Message)
	case codeUnknownOutcome:
		return fmt.Errorf("%w: %s", ErrUnknownOutcome, re.Message)
	case codeNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, re.Message)
	case codeNotAMember:
		return fmt.Errorf("%w: %s", ErrNotMember, re.Message)
	case codeBadRequest:
		return fmt.Errorf("%w: %s", ErrInvalid, re.Message)
	}
	return err
}
