package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindApiSession is the type name of API sessions.
const KindApiSession = "apiSessions"

// Indexes of API sessions.
var (
	ApiSessionIdentity = MultiIndex(KindApiSession, "identity")
	// ApiSessionToken holds the SHA-256 of each session's token.
	ApiSessionToken = UniqueIndex(KindApiSession, "token")
	// ApiSessionAuthRequest holds the authorization request of each
	// session an /oidc login step created.
	ApiSessionAuthRequest = UniqueIndex(KindApiSession, "authRequest")
)

var apiSessionKind = Kind{
	Name: KindApiSession,
	New:  func() proto.Message { return &pb.ApiSession{} },
	Indexes: []Index{
		ApiSessionIdentity.Index("identityId", func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSession).GetIdentityId())
		}),
		ApiSessionToken.Index("token", func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSession).GetTokenHash())
		}),
		ApiSessionAuthRequest.Index("oidcAuthRequestId", func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSession).GetOidcAuthRequestId())
		}),
	},
	// Ending an identity ends its sessions everywhere, in the same apply.
	Refs: []Ref{{Index: ApiSessionIdentity, Field: "identityId", Target: KindIdentity, OnDelete: Cascade}},
}
