package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindIdentity is the type name of identities.
const KindIdentity = "identities"

// Indexes of identities.
var (
	IdentityName           = UniqueIndex(KindIdentity, "name")
	IdentityExternalID     = UniqueIndex(KindIdentity, "externalId")
	IdentityRoleAttributes = MultiIndex(KindIdentity, "roleAttributes")
	// The services and configs of an identity's service config overrides.
	IdentityConfigServices = MultiIndex(KindIdentity, "serviceConfigServices")
	IdentityConfigConfigs  = MultiIndex(KindIdentity, "serviceConfigConfigs")
	// IdentityAuthPolicy: identities by auth policy, but for the default
	// policy, which is stored as no id.
	IdentityAuthPolicy = MultiIndex(KindIdentity, "authPolicy")
)

var identityKind = Kind{
	Access: true,
	Name:   KindIdentity,
	New:    func() proto.Message { return &pb.Identity{} },
	Indexes: []Index{
		IdentityName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetName())
		}),
		IdentityExternalID.Index("externalId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetExternalId())
		}),
		IdentityRoleAttributes.Index("roleAttributes", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.Identity).GetRoleAttributes())))
		}),
		IdentityConfigServices.Index("serviceConfigs", func(m proto.Message) []string {
			return serviceConfigIDs(m, (*pb.ServiceConfig).GetServiceId)
		}),
		IdentityConfigConfigs.Index("serviceConfigs", func(m proto.Message) []string {
			return serviceConfigIDs(m, (*pb.ServiceConfig).GetConfigId)
		}),
		IdentityAuthPolicy.Index("authPolicyId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetAuthPolicyId())
		}),
	},
	// An override names an existing service and config. Deleting the
	// service drops its overrides; a config in use cannot be deleted.
	Refs: []Ref{
		{Index: IdentityConfigServices, Field: "serviceConfigs", Target: KindService, OnDelete: Drop,
			Drop: func(m proto.Message, id string) {
				i := m.(*pb.Identity)
				i.ServiceConfigs = slices.DeleteFunc(i.ServiceConfigs, func(sc *pb.ServiceConfig) bool { return sc.GetServiceId() == id })
			}},
		{Index: IdentityConfigConfigs, Field: "serviceConfigs", Target: KindConfig, OnDelete: Restrict},
		// An auth policy in use cannot be deleted.
		{Index: IdentityAuthPolicy, Field: "authPolicyId", Target: KindAuthPolicy, OnDelete: Restrict},
	},
}

func serviceConfigIDs(m proto.Message, id func(*pb.ServiceConfig) string) []string {
	var out []string
	for _, sc := range m.(*pb.Identity).GetServiceConfigs() {
		out = append(out, id(sc))
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}
