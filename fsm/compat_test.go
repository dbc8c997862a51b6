package fsm

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRegisterRejectsBadDeclarations(t *testing.T) {
	body := func() proto.Message { return &pb.Identity{} }
	keys := func(proto.Message) []string { return nil }
	other := UniqueIndex("other", "name")
	for name, kinds := range map[string][]*Kind{
		"duplicate kind": {{Name: "a", New: body}, {Name: "a", New: body}},
		"duplicate index": {{Name: "a", New: body, Indexes: []Index{
			UniqueIndex("a", "name").Index("name", keys), MultiIndex("a", "name").Index("name", keys)}}},
		"tag index shadowed":     {{Name: "a", New: body, Indexes: []Index{MultiIndex("a", TagIndex).Index("tags", keys)}}},
		"handle of other kind":   {{Name: "a", New: body, Indexes: []Index{other.Index("name", keys)}}},
		"no keys":                {{Name: "a", New: body, Indexes: []Index{UniqueIndex("a", "name").Index("name", nil)}}},
		"ref to unknown kind":    {{Name: "a", New: body, Indexes: []Index{MultiIndex("a", "b").Index("b", keys)}, Refs: []Ref{{Index: MultiIndex("a", "b"), Target: "b"}}}},
		"ref through no index":   {{Name: "a", New: body, Refs: []Ref{{Index: MultiIndex("a", "b"), Target: "a"}}}},
		"ref through other kind": {{Name: "a", New: body}, {Name: "b", New: body, Indexes: []Index{MultiIndex("b", "x").Index("x", keys)}, Refs: []Ref{{Index: MultiIndex("b", "x"), Target: "a"}}}, {Name: "c", New: body, Refs: []Ref{{Index: MultiIndex("b", "x"), Target: "a"}}}},
		"no New":                 {{Name: "a"}},
	} {
		s := &Store{kinds: map[string]*Kind{}, referrers: map[string][]referrer{}}
		if err := s.register(kinds); err == nil {
			t.Errorf("%s: register accepted it", name)
		}
	}
	s := &Store{kinds: map[string]*Kind{}, referrers: map[string][]referrer{}}
	if err := s.register(allKinds()); err != nil {
		t.Fatalf("the real kinds: %v", err)
	}
}

// withUnknownField appends a field number no message of ours uses, as a
// newer build's message would carry it.
func withUnknownField(m proto.Message) {
	b := protowire.AppendTag(nil, 999, protowire.VarintType)
	m.ProtoReflect().SetUnknown(protowire.AppendVarint(b, 1))
}

// A committed command this build does not understand stops the node
// before anything is written: skipping it would diverge from the nodes that
// applied it.
func TestIncompatibleCommandStopsTheNode(t *testing.T) {
	newer := entity(t, KindIdentity, "i9", &pb.Identity{Name: "newer"})
	body := &pb.Identity{Name: "newer-body"}
	withUnknownField(body)
	newerBody := entity(t, KindIdentity, "i8", body)
	newerOp := createOp(entity(t, KindIdentity, "i7", &pb.Identity{Name: "op"}))
	withUnknownField(newerOp)
	withUnknownField(newer)
	cases := map[string]*pb.Command{
		"unknown kind":          {Ops: []*pb.Op{createOp(entity(t, "no-such-kind", "s1", &pb.Identity{Name: "x"}))}},
		"unknown delete kind":   {Ops: []*pb.Op{deleteOp("no-such-kind", "s1")}},
		"empty op":              {Ops: []*pb.Op{{}}},
		"wrong body type":       {Ops: []*pb.Op{createOp(entity(t, KindIdentity, "i1", &pb.Ca{Name: "x"}))}},
		"unknown patch field":   {Ops: []*pb.Op{{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: entity(t, KindIdentity, "i1", &pb.Identity{}), Fields: []string{"noSuch"}}}}}},
		"unknown entity field":  {Ops: []*pb.Op{createOp(newer)}},
		"unknown body field":    {Ops: []*pb.Op{createOp(newerBody)}},
		"unknown op field":      {Ops: []*pb.Op{newerOp}},
		"expect unknown index":  {Ops: []*pb.Op{{Kind: &pb.Op_Expect{Expect: &pb.Expect{Type: KindIdentity, Index: "nope"}}}}},
		"expect non-unique":     {Ops: []*pb.Op{{Kind: &pb.Op_Expect{Expect: &pb.Expect{Type: KindIdentity, Index: "roleAttributes"}}}}},
		"entity without an id":  {Ops: []*pb.Op{createOp(entity(t, KindIdentity, "", &pb.Identity{Name: "x"}))}},
		"unknown command field": func() *pb.Command { c := &pb.Command{}; withUnknownField(c); return c }(),
	}
	for name, cmd := range cases {
		t.Run(name, func(t *testing.T) {
			var stopped error
			s, err := Open(filepath.Join(t.TempDir(), "state.db"), quiet(), WithFatal(func(err error) { stopped = err }))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CheckCommand(cmd); !errors.Is(err, ErrIncompatible) {
				t.Errorf("CheckCommand = %v, want ErrIncompatible", err)
			}
			// A good command first in the same batch: the whole batch stops,
			// so it is not written either (raft will hand it over again).
			good := cmdLog(t, 1, createOp(entity(t, KindIdentity, "ok", &pb.Identity{Name: "ok"})))
			data, err := proto.Marshal(cmd)
			if err != nil {
				t.Fatal(err)
			}
			s.ApplyBatch([]*raft.Log{good, {Index: 2, Type: raft.LogCommand, Data: data}})
			if !errors.Is(stopped, ErrIncompatible) {
				t.Fatalf("fatal called with %v, want ErrIncompatible", stopped)
			}
			if got := s.AppliedIndex(); got != 0 {
				t.Errorf("applied index %d after the stop, want 0", got)
			}
			if _, err := s.Get(KindIdentity, "ok"); !errors.Is(err, ErrNotFound) {
				t.Errorf("the batch was partly written: %v", err)
			}
		})
	}
	t.Run("undecodable", func(t *testing.T) {
		var stopped error
		s, err := Open(filepath.Join(t.TempDir(), "state.db"), quiet(), WithFatal(func(err error) { stopped = err }))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: []byte("not a protobuf \xff\xff")}})
		if !errors.Is(stopped, ErrIncompatible) || !strings.Contains(stopped.Error(), "undecodable") {
			t.Fatalf("fatal called with %v", stopped)
		}
	})
	t.Run("known command passes the check", func(t *testing.T) {
		s := openTest(t)
		ok := &pb.Command{Ops: []*pb.Op{
			createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "x"})),
			{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: entity(t, KindIdentity, "i1", &pb.Identity{}), Fields: []string{"tags", "isAdmin", "role_attributes"}}}},
			ExpectOp(IdentityName, "x", "i1"),
			deleteOp(KindIdentity, "i1"),
		}}
		if err := s.CheckCommand(ok); err != nil {
			t.Fatal(err)
		}
	})
}
