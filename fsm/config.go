package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindConfig is the type name of configs.
const KindConfig = "configs"

// Indexes of configs.
var (
	ConfigName = UniqueIndex(KindConfig, "name")
	ConfigType = MultiIndex(KindConfig, "configType")
)

var configKind = Kind{
	Access: true,
	Name:   KindConfig,
	New:    func() proto.Message { return &pb.Config{} },
	Indexes: []Index{
		ConfigName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Config).GetName())
		}),
		ConfigType.Index("configTypeId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Config).GetConfigTypeId())
		}),
	},
	// A config type in use cannot be deleted (409), as the spec says.
	Refs: []Ref{{Index: ConfigType, Field: "configTypeId", Target: KindConfigType, OnDelete: Restrict}},
}
