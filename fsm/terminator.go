package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindTerminator is the type name of terminators.
const KindTerminator = "terminators"

// Indexes of terminators.
var (
	TerminatorService = MultiIndex(KindTerminator, "service")
	TerminatorRouter  = MultiIndex(KindTerminator, "router")
)

// A terminator goes with its service and with its router.
var terminatorKind = Kind{
	Name: KindTerminator,
	New:  func() proto.Message { return &pb.Terminator{} },
	Indexes: []Index{
		TerminatorService.Index("serviceId", func(m proto.Message) []string { return keysOf(m.(*pb.Terminator).GetServiceId()) }),
		TerminatorRouter.Index("routerId", func(m proto.Message) []string { return keysOf(m.(*pb.Terminator).GetRouterId()) }),
	},
	Refs: []Ref{
		{Index: TerminatorService, Field: "service", Target: KindService, OnDelete: Cascade},
		{Index: TerminatorRouter, Field: "router", Target: KindEdgeRouter, OnDelete: Cascade},
	},
}
