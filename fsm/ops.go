package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// NewEntity wraps a body for a command, encoding it deterministically so
// the same command has the same bytes however it was built.
func NewEntity(kind, id string, body proto.Message, tags map[string]any) (*pb.Entity, error) {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, body, marshalOpts); err != nil {
		return nil, fmt.Errorf("encode %s body: %w", kind, err)
	}
	e := &pb.Entity{Type: kind, Id: id, Body: a}
	if tags != nil {
		s, err := structpb.NewStruct(tags)
		if err != nil {
			return nil, fmt.Errorf("encode %s tags: %w", kind, err)
		}
		e.Tags = s
	}
	return e, nil
}

// CreateOp builds a create op.
func CreateOp(kind, id string, body proto.Message, tags map[string]any) (*pb.Op, error) {
	e, err := NewEntity(kind, id, body, tags)
	if err != nil {
		return nil, err
	}
	return &pb.Op{Kind: &pb.Op_Create{Create: &pb.Create{Entity: e}}}, nil
}

// UpdateOp builds a full-replacement op.
func UpdateOp(kind, id string, body proto.Message, tags map[string]any) (*pb.Op, error) {
	e, err := NewEntity(kind, id, body, tags)
	if err != nil {
		return nil, err
	}
	return &pb.Op{Kind: &pb.Op_Update{Update: &pb.Update{Entity: e}}}, nil
}

// PatchOp builds an op that changes only the named fields.
func PatchOp(kind, id string, body proto.Message, tags map[string]any, fields ...string) (*pb.Op, error) {
	e, err := NewEntity(kind, id, body, tags)
	if err != nil {
		return nil, err
	}
	return &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: e, Fields: fields}}}, nil
}

// DeleteOp builds a delete op.
func DeleteOp(kind, id string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: kind, Id: id}}}
}

// ExpectOp builds an Expect precondition: the command fails with NOT_FOUND
// unless the unique index maps key to id.
func ExpectOp(ix Unique, key, id string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_Expect{Expect: &pb.Expect{Type: ix.kind, Index: ix.name, Key: key, Id: id}}}
}
