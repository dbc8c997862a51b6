package fsm

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindConfigType is the type name of config types.
const KindConfigType = "configTypes"

// Indexes of config types.
var (
	ConfigTypeName = UniqueIndex(KindConfigType, "name")
	// ConfigTypeSchema holds SchemaKey(name, schema): a config checked
	// against a schema expects that key to name its type in the same
	// command, so a schema changed in between fails the write instead of
	// storing data that was never checked against it.
	ConfigTypeSchema = UniqueIndex(KindConfigType, "schema")
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
