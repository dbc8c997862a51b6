package fsm

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Kinds of config types and configs.
const (
	KindConfigType = "configTypes"
	KindConfig     = "configs"
)

// Indexes of config types and configs.
var (
	ConfigTypeName = UniqueIndex(KindConfigType, "name")
	// ConfigTypeSchema holds SchemaKey(name, schema): a config checked
	// against a schema expects that key to name its type in the same
	// command, so a schema changed in between fails the write instead of
	// storing data that was never checked against it.
	ConfigTypeSchema = UniqueIndex(KindConfigType, "schema")
	ConfigName       = UniqueIndex(KindConfig, "name")
	ConfigType       = MultiIndex(KindConfig, "configType")
)

// SchemaKey is a config type's ConfigTypeSchema key: its name (unique) and
// a digest of its schema.
func SchemaKey(name string, schema []byte) string {
	sum := sha256.Sum256(schema)
	return name + "@" + hex.EncodeToString(sum[:])
}

var configTypeKind = Kind{
	Name: KindConfigType,
	New:  func() proto.Message { return &pb.ConfigType{} },
	Indexes: []Index{
		ConfigTypeName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.ConfigType).GetName())
		}),
		ConfigTypeSchema.Index("schema", func(m proto.Message) []string {
			t := m.(*pb.ConfigType)
			return keysOf(SchemaKey(t.GetName(), t.GetSchemaJson()))
		}),
	},
}

var configKind = Kind{
	Name: KindConfig,
	New:  func() proto.Message { return &pb.Config{} },
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
