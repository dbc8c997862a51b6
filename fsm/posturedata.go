package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindPostureData is the type name of posture data, one per API session
// (same id), deleted with it.
const KindPostureData = "postureData"

// PostureDataApiSession indexes posture data by API session.
var PostureDataApiSession = MultiIndex(KindPostureData, "apiSession")

var postureDataKind = Kind{
	Name: KindPostureData,
	New:  func() proto.Message { return &pb.PostureData{} },
	Indexes: []Index{
		PostureDataApiSession.Index("apiSessionId", func(m proto.Message) []string { return keysOf(m.(*pb.PostureData).GetApiSessionId()) }),
	},
	Refs: []Ref{{Index: PostureDataApiSession, Field: "apiSessionId", Target: KindApiSession, OnDelete: Cascade}},
}

// KindPostureFailures is the type name of an identity's refused network
// session requests (same id as the identity), deleted with it.
const KindPostureFailures = "postureFailures"

// PostureFailuresIdentity indexes posture failures by identity.
var PostureFailuresIdentity = MultiIndex(KindPostureFailures, "identity")

var postureFailuresKind = Kind{
	Name: KindPostureFailures,
	New:  func() proto.Message { return &pb.PostureFailures{} },
	Indexes: []Index{
		PostureFailuresIdentity.Index("identityId", func(m proto.Message) []string { return keysOf(m.(*pb.PostureFailures).GetIdentityId()) }),
	},
	Refs: []Ref{{Index: PostureFailuresIdentity, Field: "identityId", Target: KindIdentity, OnDelete: Cascade}},
}
