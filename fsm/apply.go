package fsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// ok is the result of every successful command.
func ok() *pb.Result { return &pb.Result{Code: pb.Result_OK} }

// ErrIncompatible marks a command this build cannot apply as it was meant:
// an entity type, op, index or field it does not know, or fields of a newer
// format. Skipping such a command would let this node diverge from the nodes
// that understood it, so applying one stops the node, and a leader refuses
// to propose one (CheckCommand).
var ErrIncompatible = errors.New("command not understood by this build")

func incompatible(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrIncompatible, fmt.Sprintf(format, args...))
}

// CheckCommand reports, as an ErrIncompatible error, anything in cmd that
// this build's state machine would not understand. The leader runs it before
// proposing, so a malformed command, or one from a newer node that this
// older leader cannot apply, is refused instead of committed.
func (s *Store) CheckCommand(cmd *pb.Command) error {
	if err := unknownFields(cmd.ProtoReflect()); err != nil {
		return err
	}
	for i, op := range cmd.GetOps() {
		if err := s.checkOp(op); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

func (s *Store) checkOp(op *pb.Op) error {
	switch k := op.GetKind().(type) {
	case *pb.Op_Create:
		_, _, err := s.decodeBody(k.Create.GetEntity())
		return err
	case *pb.Op_Update:
		_, _, err := s.decodeBody(k.Update.GetEntity())
		return err
	case *pb.Op_Patch:
		_, body, err := s.decodeBody(k.Patch.GetEntity())
		if err != nil {
			return err
		}
		for _, name := range k.Patch.GetFields() {
			if name != "tags" && fieldByName(body, name) == nil {
				return incompatible("patch names field %q, which %s bodies do not have", name, k.Patch.GetEntity().GetType())
			}
		}
		return nil
	case *pb.Op_Delete:
		_, err := s.knownKind(k.Delete.GetType())
		return err
	case *pb.Op_Expect:
		_, err := s.expectIndex(k.Expect)
		return err
	case *pb.Op_LoginFailed, *pb.Op_LoginAllowed, *pb.Op_MfaCodeUsed, *pb.Op_MfaFailed, *pb.Op_MfaExpect, *pb.Op_GrantRotate:
		return nil
	}
	return incompatible("an op of a type this build does not know")
}

// unknownFields finds fields this build's protobuf definitions lack, in a
// command and everything it contains (an Any's payload is checked when it is
// decoded).
func unknownFields(m protoreflect.Message) error {
	if len(m.GetUnknown()) > 0 {
		return incompatible("%s carries fields this build does not know", m.Descriptor().FullName())
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		// Well-known types (the Any of a body, the Struct of tags) never
		// gain fields; a body's own are checked when it is decoded.
		if fd.Message() == nil || fd.Message().ParentFile().Package() == "google.protobuf" || !m.Has(fd) {
			continue
		}
		var err error
		switch v := m.Get(fd); {
		case fd.IsList():
			for j := 0; j < v.List().Len() && err == nil; j++ {
				err = unknownFields(v.List().Get(j).Message())
			}
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					err = unknownFields(mv.Message())
					return err == nil
				})
			}
		default:
			err = unknownFields(v.Message())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) knownKind(name string) (*Kind, error) {
	kind, ok := s.kinds[name]
	if !ok {
		return nil, incompatible("unknown entity type %q", name)
	}
	return kind, nil
}

// applyCommand applies the ops of one command through j. On failure it
// undoes what the command had changed and reports the failing op. An error
// means the command cannot be applied at all (ErrIncompatible) or the
// database failed; either stops the node.
func (s *Store) applyCommand(j *journal, cmd *pb.Command) (*pb.Result, error) {
	j.reset()
	if err := unknownFields(cmd.ProtoReflect()); err != nil {
		return nil, err
	}
	for i, op := range cmd.GetOps() {
		res, err := s.applyOp(j, cmd.GetTimestamp(), op)
		if err != nil {
			return nil, fmt.Errorf("op %d: %w", i, err)
		}
		if res.GetCode() != pb.Result_OK {
			if err := j.undo(); err != nil {
				return nil, fmt.Errorf("undo failed command: %w", err)
			}
			res.OpIndex = int32(i)
			return res, nil
		}
	}
	return ok(), nil
}

// applyOp returns a non-OK result for constraint violations and an error
// when the op cannot be understood or the database itself fails.
func (s *Store) applyOp(j *journal, ts int64, op *pb.Op) (*pb.Result, error) {
	switch k := op.GetKind().(type) {
	case *pb.Op_Create:
		return s.create(j, ts, k.Create.GetEntity())
	case *pb.Op_Update:
		return s.update(j, ts, k.Update.GetEntity())
	case *pb.Op_Patch:
		return s.patch(j, ts, k.Patch)
	case *pb.Op_Delete:
		d := k.Delete
		if _, err := s.knownKind(d.GetType()); err != nil {
			return nil, err
		}
		if d.GetSkipMissing() && j.get(entityBucket(d.GetType()), []byte(d.GetId())) == nil {
			return ok(), nil
		}
		return s.delete(j, ts, d.GetType(), d.GetId())
	case *pb.Op_Expect:
		return s.expect(j, k.Expect)
	case *pb.Op_LoginFailed:
		return s.loginFailed(j, ts, k.LoginFailed)
	case *pb.Op_LoginAllowed:
		return s.loginAllowed(j, ts, k.LoginAllowed)
	case *pb.Op_MfaCodeUsed:
		return s.mfaCodeUsed(j, k.MfaCodeUsed)
	case *pb.Op_MfaFailed:
		return s.mfaFailed(j, ts, k.MfaFailed)
	case *pb.Op_MfaExpect:
		return s.mfaExpect(j, k.MfaExpect)
	case *pb.Op_GrantRotate:
		return s.grantRotate(j, ts, k.GrantRotate)
	}
	return nil, incompatible("an op of a type this build does not know")
}

// expectIndex resolves the unique index an Expect names.
func (s *Store) expectIndex(e *pb.Expect) (*Index, error) {
	kind, err := s.knownKind(e.GetType())
	if err != nil {
		return nil, err
	}
	ix := kind.index(e.GetIndex())
	if ix == nil || !ix.Unique {
		return nil, incompatible("%q is not a unique index of %s", e.GetIndex(), e.GetType())
	}
	return ix, nil
}

// expect checks an Expect precondition against the unique index.
func (s *Store) expect(j *journal, e *pb.Expect) (*pb.Result, error) {
	ix, err := s.expectIndex(e)
	if err != nil {
		return nil, err
	}
	got := j.get(indexBucket(e.GetType(), e.GetIndex()), []byte(e.GetKey()))
	if got == nil || string(got) != e.GetId() {
		return failure(pb.Result_NOT_FOUND, ix.Field, "", "the expected "+ix.Field+" no longer names this "+e.GetType()), nil
	}
	return ok(), nil
}

// decodeBody checks that e names a known kind and carries a body of that
// kind's message type, in a format this build knows entirely.
func (s *Store) decodeBody(e *pb.Entity) (*Kind, proto.Message, error) {
	if e == nil {
		return nil, nil, incompatible("op has no entity")
	}
	kind, err := s.knownKind(e.GetType())
	if err != nil {
		return nil, nil, err
	}
	if e.GetId() == "" {
		return nil, nil, incompatible("%s entity has no id", kind.Name)
	}
	body := kind.New()
	if e.GetBody() != nil {
		if err := e.GetBody().UnmarshalTo(body); err != nil {
			return nil, nil, incompatible("body does not match entity type %s: %v", kind.Name, err)
		}
		if err := unknownFields(body.ProtoReflect()); err != nil {
			return nil, nil, err
		}
	}
	return kind, body, nil
}

func (s *Store) create(j *journal, ts int64, e *pb.Entity) (*pb.Result, error) {
	kind, body, err := s.decodeBody(e)
	if err != nil {
		return nil, err
	}
	if j.get(entityBucket(kind.Name), []byte(e.GetId())) != nil {
		return failure(pb.Result_CONFLICT, "id", e.GetId(), "an entity with this id already exists"), nil
	}
	stored := &pb.Entity{Type: kind.Name, Id: e.GetId(), CreatedAt: ts, UpdatedAt: ts, Tags: e.GetTags()}
	return s.write(j, kind, stored, nil, nil, body)
}

func (s *Store) update(j *journal, ts int64, e *pb.Entity) (*pb.Result, error) {
	kind, body, err := s.decodeBody(e)
	if err != nil {
		return nil, err
	}
	old, oldBody, err := s.load(j, kind, e.GetId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return notFound(kind.Name, e.GetId()), nil
	}
	stored := &pb.Entity{Type: kind.Name, Id: old.GetId(), CreatedAt: old.GetCreatedAt(), UpdatedAt: ts, Tags: e.GetTags()}
	return s.write(j, kind, stored, old, oldBody, body)
}

func (s *Store) patch(j *journal, ts int64, p *pb.Patch) (*pb.Result, error) {
	e := p.GetEntity()
	kind, patchBody, err := s.decodeBody(e)
	if err != nil {
		return nil, err
	}
	for _, name := range p.GetFields() {
		if name != "tags" && fieldByName(patchBody, name) == nil {
			return nil, incompatible("patch names field %q, which %s bodies do not have", name, kind.Name)
		}
	}
	old, oldBody, err := s.load(j, kind, e.GetId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		if p.GetSkipMissing() {
			return ok(), nil
		}
		return notFound(kind.Name, e.GetId()), nil
	}
	merged := proto.Clone(oldBody)
	stored := &pb.Entity{Type: kind.Name, Id: old.GetId(), CreatedAt: old.GetCreatedAt(), UpdatedAt: ts, Tags: old.GetTags()}
	if p.GetKeepUpdatedAt() {
		stored.UpdatedAt = old.GetUpdatedAt()
	}
	for _, name := range p.GetFields() {
		if name == "tags" {
			stored.Tags = e.GetTags()
			continue
		}
		copyField(merged, patchBody, name)
	}
	return s.write(j, kind, stored, old, oldBody, merged)
}

// fieldByName finds a top-level field by its proto or JSON name.
func fieldByName(m proto.Message, name string) protoreflect.FieldDescriptor {
	fields := m.ProtoReflect().Descriptor().Fields()
	if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return fields.ByJSONName(name)
}

// copyField copies one top-level field, named by its proto or JSON name
// (one the message has), from src to dst.
func copyField(dst, src proto.Message, name string) {
	d, sr := dst.ProtoReflect(), src.ProtoReflect()
	fd := fieldByName(dst, name)
	if sr.Has(fd) {
		d.Set(fd, sr.Get(fd))
	} else {
		d.Clear(fd)
	}
}

// write stores the entity with body, maintaining indexes against the old
// version (old and oldBody nil on create) and checking unique keys and
// references.
func (s *Store) write(j *journal, kind *Kind, e, old *pb.Entity, oldBody, body proto.Message) (*pb.Result, error) {
	id := []byte(e.GetId())
	if res := checkKeySizes(kind, e, body); res != nil {
		return res, nil
	}
	for _, ix := range kind.allIndexes() {
		newKeys := indexKeys(ix, e.GetTags(), body)
		var oldKeys []string
		if oldBody != nil {
			oldKeys = indexKeys(ix, old.GetTags(), oldBody)
		}
		bucket := indexBucket(kind.Name, ix.Name)
		for _, k := range oldKeys {
			if contains(newKeys, k) {
				continue
			}
			if err := j.delete(bucket, indexKey(ix, k, id)); err != nil {
				return nil, err
			}
		}
		for _, k := range newKeys {
			if contains(oldKeys, k) {
				continue
			}
			if ix.Unique {
				if holder := j.get(bucket, []byte(k)); holder != nil && !bytes.Equal(holder, id) {
					return failure(pb.Result_CONFLICT, ix.Field, k,
						fmt.Sprintf("%s %q is already in use", ix.Field, k)), nil
				}
			}
			if err := j.put(bucket, indexKey(ix, k, id), indexValue(ix, id)); err != nil {
				return nil, err
			}
		}
	}
	for _, ref := range kind.Refs {
		ix := kind.index(ref.Index.name)
		for _, target := range ix.Keys(body) {
			if j.get(entityBucket(ref.Target), []byte(target)) == nil {
				return failure(pb.Result_REFERENCE_MISSING, ref.Field, target,
					fmt.Sprintf("%s %q does not exist", ref.Field, target)), nil
			}
		}
	}
	// anypb.New would marshal map fields in random order; the stored bytes
	// must be identical on every node.
	anyBody := &anypb.Any{}
	if err := anypb.MarshalFrom(anyBody, body, marshalOpts); err != nil {
		return failure(pb.Result_INVALID, "body", "", err.Error()), nil
	}
	e.Body = anyBody
	raw, err := marshalOpts.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", kind.Name, e.GetId(), err)
	}
	if err := j.put(entityBucket(kind.Name), id, raw); err != nil {
		return nil, err
	}
	if kind.Access {
		if err := touchAccess(j, e.GetUpdatedAt()); err != nil {
			return nil, err
		}
	}
	return ok(), nil
}

// touchAccess records ts, a command's time, as the last access change.
func touchAccess(j *journal, ts int64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(ts))
	return j.put(metaBucket, []byte(accessKey), buf[:])
}

func (s *Store) delete(j *journal, ts int64, kindName, id string) (*pb.Result, error) {
	kind, err := s.knownKind(kindName)
	if err != nil {
		return nil, err
	}
	old, oldBody, err := s.load(j, kind, id)
	if err != nil {
		return nil, err
	}
	if old == nil {
		return notFound(kind.Name, id), nil
	}
	// Referring entities first, so a Restrict anywhere stops the whole delete.
	for _, dep := range s.referrers[kind.Name] {
		ids := scanIndex(j.bucket(indexBucket(dep.kind.Name, dep.ref.Index.name)), id)
		if len(ids) == 0 {
			continue
		}
		switch dep.ref.OnDelete {
		case Restrict:
			return failure(pb.Result_REFERENCED, dep.ref.Field, id,
				fmt.Sprintf("%s %s is still referenced by %d %s", kind.Name, id, len(ids), dep.kind.Name)), nil
		case Drop:
			for _, depID := range ids {
				res, err := s.dropRef(j, ts, dep.kind, dep.ref, depID, id)
				if err != nil || res.GetCode() != pb.Result_OK {
					return res, err
				}
			}
		default:
			for _, depID := range ids {
				res, err := s.delete(j, ts, dep.kind.Name, depID)
				if err != nil || res.GetCode() != pb.Result_OK {
					return res, err
				}
			}
		}
	}
	bid := []byte(id)
	for _, ix := range kind.allIndexes() {
		for _, k := range indexKeys(ix, old.GetTags(), oldBody) {
			if err := j.delete(indexBucket(kind.Name, ix.Name), indexKey(ix, k, bid)); err != nil {
				return nil, err
			}
		}
	}
	if err := j.delete(entityBucket(kind.Name), bid); err != nil {
		return nil, err
	}
	if kind.Access {
		if err := touchAccess(j, ts); err != nil {
			return nil, err
		}
	}
	return ok(), nil
}

// dropRef rewrites referring entity depID without its reference to target.
func (s *Store) dropRef(j *journal, ts int64, kind *Kind, ref Ref, depID, target string) (*pb.Result, error) {
	old, oldBody, err := s.load(j, kind, depID)
	if err != nil || old == nil {
		return ok(), err
	}
	body := proto.Clone(oldBody)
	ref.Drop(body, target)
	stored := &pb.Entity{Type: kind.Name, Id: old.GetId(), CreatedAt: old.GetCreatedAt(), UpdatedAt: ts, Tags: old.GetTags()}
	return s.write(j, kind, stored, old, oldBody, body)
}

// load reads an entity inside the write transaction; nil if absent.
func (s *Store) load(j *journal, kind *Kind, id string) (*pb.Entity, proto.Message, error) {
	raw := j.get(entityBucket(kind.Name), []byte(id))
	if raw == nil {
		return nil, nil, nil
	}
	return decodeEntity(kind, raw)
}

func decodeEntity(kind *Kind, raw []byte) (*pb.Entity, proto.Message, error) {
	e := &pb.Entity{}
	if err := proto.Unmarshal(raw, e); err != nil {
		return nil, nil, fmt.Errorf("decode stored %s: %w", kind.Name, err)
	}
	body := kind.New()
	if e.GetBody() != nil {
		if err := e.GetBody().UnmarshalTo(body); err != nil {
			return nil, nil, fmt.Errorf("decode stored %s %s body: %w", kind.Name, e.GetId(), err)
		}
	}
	return e, body, nil
}

func notFound(kind, id string) *pb.Result {
	return failure(pb.Result_NOT_FOUND, "id", id, fmt.Sprintf("%s %s not found", kind, id))
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Bounds on what becomes a bbolt key. bbolt refuses keys over 32 KiB with an
// error, and an error inside apply stops the node (exit 70) — on every node,
// at every replay of the entry. So an over-long value must fail its command
// deterministically instead, well before bbolt's limit.
const (
	MaxIDBytes       = 1024
	MaxIndexKeyBytes = 4096
)

// checkKeySizes refuses an entity whose id or index keys are too long.
func checkKeySizes(kind *Kind, e *pb.Entity, body proto.Message) *pb.Result {
	if len(e.GetId()) > MaxIDBytes {
		return failure(pb.Result_INVALID, "id", "", fmt.Sprintf("id is longer than %d bytes", MaxIDBytes))
	}
	for _, ix := range kind.allIndexes() {
		for _, k := range indexKeys(ix, e.GetTags(), body) {
			if len(k)+1+len(e.GetId()) > MaxIndexKeyBytes {
				return failure(pb.Result_INVALID, ix.Field, "",
					fmt.Sprintf("%s is too long: an indexed value may have at most %d bytes", ix.Field, MaxIndexKeyBytes-1-len(e.GetId())))
			}
		}
	}
	return nil
}
