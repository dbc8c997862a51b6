package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindApiSession is the type name of API sessions.
const KindApiSession = "apiSessions"

var apiSessionKind = Kind{
	Name: KindApiSession,
	New:  func() proto.Message { return &pb.ApiSession{} },
	Indexes: []Index{
		{Name: "identity", Field: "identityId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSession).GetIdentityId())
		}},
		{Name: "token", Unique: true, Field: "token", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSession).GetTokenHash())
		}},
	},
	// Ending an identity ends its sessions everywhere, in the same apply.
	Refs: []Ref{{Index: "identity", Field: "identityId", Target: KindIdentity, OnDelete: Cascade}},
}
