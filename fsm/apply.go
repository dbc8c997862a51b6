package fsm

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// ok is the result of every successful command.
func ok() *pb.Result { return &pb.Result{Code: pb.Result_OK} }

// applyCommand applies the ops of one command through j. On failure it
// undoes what the command had changed and reports the failing op.
func (s *Store) applyCommand(j *journal, cmd *pb.Command) (*pb.Result, error) {
	j.reset()
	for i, op := range cmd.GetOps() {
		res, err := s.applyOp(j, cmd.GetTimestamp(), op)
		if err != nil {
			return nil, err
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
// only when the database itself fails.
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
		if _, known := s.kinds[d.GetType()]; known && d.GetSkipMissing() && j.get(entityBucket(d.GetType()), []byte(d.GetId())) == nil {
			return ok(), nil
		}
		return s.delete(j, d.GetType(), d.GetId())
	case *pb.Op_Expect:
		return s.expect(j, k.Expect), nil
	default:
		return failure(pb.Result_INVALID, "", "", "command has an empty op"), nil
	}
}

// expect checks an Expect precondition against the unique index.
func (s *Store) expect(j *journal, e *pb.Expect) *pb.Result {
	kind, known := s.kinds[e.GetType()]
	if !known {
		return failure(pb.Result_INVALID, "type", e.GetType(), "unknown entity type")
	}
	ix := kind.index(e.GetIndex())
	if ix == nil || !ix.Unique {
		return failure(pb.Result_INVALID, "index", e.GetIndex(), "not a unique index of "+e.GetType())
	}
	got := j.get(indexBucket(e.GetType(), e.GetIndex()), []byte(e.GetKey()))
	if got == nil || string(got) != e.GetId() {
		return failure(pb.Result_NOT_FOUND, ix.Field, "", "the expected "+ix.Field+" no longer names this "+e.GetType())
	}
	return ok()
}

// decodeBody checks that e names a known kind and carries a body of that
// kind's message type.
func (s *Store) decodeBody(e *pb.Entity) (*Kind, proto.Message, *pb.Result) {
	if e == nil {
		return nil, nil, failure(pb.Result_INVALID, "", "", "op has no entity")
	}
	kind, found := s.kinds[e.GetType()]
	if !found {
		return nil, nil, failure(pb.Result_INVALID, "type", e.GetType(), "unknown entity type")
	}
	if e.GetId() == "" {
		return nil, nil, failure(pb.Result_INVALID, "id", "", "entity has no id")
	}
	body := kind.New()
	if e.GetBody() != nil {
		if err := e.GetBody().UnmarshalTo(body); err != nil {
			return nil, nil, failure(pb.Result_INVALID, "body", "", "body does not match entity type: "+err.Error())
		}
	}
	return kind, body, nil
}

func (s *Store) create(j *journal, ts int64, e *pb.Entity) (*pb.Result, error) {
	kind, body, bad := s.decodeBody(e)
	if bad != nil {
		return bad, nil
	}
	if j.get(entityBucket(kind.Name), []byte(e.GetId())) != nil {
		return failure(pb.Result_CONFLICT, "id", e.GetId(), "an entity with this id already exists"), nil
	}
	stored := &pb.Entity{Type: kind.Name, Id: e.GetId(), CreatedAt: ts, UpdatedAt: ts, Tags: e.GetTags()}
	return s.write(j, kind, stored, nil, nil, body)
}

func (s *Store) update(j *journal, ts int64, e *pb.Entity) (*pb.Result, error) {
	kind, body, bad := s.decodeBody(e)
	if bad != nil {
		return bad, nil
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
	kind, patchBody, bad := s.decodeBody(e)
	if bad != nil {
		return bad, nil
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
		if !copyField(merged, patchBody, name) {
			return failure(pb.Result_INVALID, name, "", "unknown field in patch"), nil
		}
	}
	return s.write(j, kind, stored, old, oldBody, merged)
}

// copyField copies one top-level field, named by its proto or JSON name,
// from src to dst. It reports false if the message has no such field.
func copyField(dst, src proto.Message, name string) bool {
	d, sr := dst.ProtoReflect(), src.ProtoReflect()
	fields := d.Descriptor().Fields()
	fd := fields.ByName(protoreflect.Name(name))
	if fd == nil {
		fd = fields.ByJSONName(name)
	}
	if fd == nil {
		return false
	}
	if sr.Has(fd) {
		d.Set(fd, sr.Get(fd))
	} else {
		d.Clear(fd)
	}
	return true
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
		ix := kind.index(ref.Index)
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
	return ok(), nil
}

func (s *Store) delete(j *journal, kindName, id string) (*pb.Result, error) {
	kind, found := s.kinds[kindName]
	if !found {
		return failure(pb.Result_INVALID, "type", kindName, "unknown entity type"), nil
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
		ids := scanIndex(j.bucket(indexBucket(dep.kind.Name, dep.ref.Index)), id)
		if len(ids) == 0 {
			continue
		}
		if dep.ref.OnDelete == Restrict {
			return failure(pb.Result_REFERENCED, dep.ref.Field, id,
				fmt.Sprintf("%s %s is still referenced by %d %s", kind.Name, id, len(ids), dep.kind.Name)), nil
		}
		for _, depID := range ids {
			res, err := s.delete(j, dep.kind.Name, depID)
			if err != nil || res.GetCode() != pb.Result_OK {
				return res, err
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
	return ok(), nil
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
