package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindSession is the type name of network sessions.
const KindSession = "sessions"

// Indexes of network sessions.
var (
	SessionApiSession = MultiIndex(KindSession, "apiSession")
	SessionService    = MultiIndex(KindSession, "service")
	SessionToken      = UniqueIndex(KindSession, "token")
)

// A session lives no longer than its API session (logout ends it on every
// node) or its service.
var sessionKind = Kind{
	Name: KindSession,
	New:  func() proto.Message { return &pb.Session{} },
	Indexes: []Index{
		SessionApiSession.Index("apiSessionId", func(m proto.Message) []string { return keysOf(m.(*pb.Session).GetApiSessionId()) }),
		SessionService.Index("serviceId", func(m proto.Message) []string { return keysOf(m.(*pb.Session).GetServiceId()) }),
		SessionToken.Index("token", func(m proto.Message) []string { return keysOf(m.(*pb.Session).GetToken()) }),
	},
	Refs: []Ref{
		{Index: SessionApiSession, Field: "apiSessionId", Target: KindApiSession, OnDelete: Cascade},
		{Index: SessionService, Field: "serviceId", Target: KindService, OnDelete: Cascade},
	},
}
