package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindRevocation is the type name of revocations (pb.Revocation): the id
// of each is what it revokes.
const KindRevocation = "revocations"

var revocationKind = Kind{
	Name: KindRevocation,
	New:  func() proto.Message { return &pb.Revocation{} },
}

// KindControllerSetting is the type name of controller settings
// (pb.ControllerSetting): "global", or a member's id.
const KindControllerSetting = "controllerSettings"

// GlobalSettingID is the id of the settings every member has.
const GlobalSettingID = "global"

var controllerSettingKind = Kind{
	Name: KindControllerSetting,
	New:  func() proto.Message { return &pb.ControllerSetting{} },
}
