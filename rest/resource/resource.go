// Package resource is the REST framework every Edge entity is declared
// with. A Resource is data: its fields (JSON name, stored protobuf field,
// type, which bodies require it, where it may be written, how it renders
// and filters) and a few named hooks for what is particular to the entity.
// From it the generic handlers read and validate create, PUT and PATCH
// bodies (400 COULD_NOT_VALIDATE naming the field; PATCH changes only the
// fields sent), build the replicated command, render {data, meta} with
// _links, and list with the filter language, sorting and paging.
package resource

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Resource declares one REST entity type.
type Resource struct {
	// Kind is the fsm kind the entities are stored as.
	Kind string
	// Path is the collection's path segment ("config-types"); entities
	// live at Path/{id}.
	Path   string
	Fields []Field

	// Check runs after a create, PUT or PATCH body's fields have been read,
	// in a read view, before anything is replicated: entity-specific
	// validation, derived fields, and extra ops for the same command.
	Check func(w *Write) error
	// Render adds what the fields cannot say to a rendered entity.
	Render func(rd *fsm.Reader, rec *fsm.Record, out map[string]any) error
	// BeforeDelete may refuse a delete (an error) or add ops to its command.
	BeforeDelete func(rd *fsm.Reader, rec *fsm.Record) ([]*pb.Op, error)
	// IDField names the body field that gives a created entity its id
	// (a fabric router's "id"), for the few resources whose ids are not
	// made by Store.NewID; their Check sets Write.ID from it, and a
	// retried create answers it.
	IDField string
	// AbsentDeleted answers a DELETE of an id that does not exist 200, as
	// if it had been deleted: for the operations whose spec documents no
	// 404 (the fabric API's, the management API's /routers). After either
	// answer the entity does not exist. One outside the resource's scope
	// is a 409 (documented there).
	AbsentDeleted bool
	// Scope, if set, restricts what a request sees and may change: the
	// caller's own entities, or a role filter from the query.
	Scope func(r *http.Request) (Scope, error)
	// Cache, if set, keeps the rendering of the declared fields for lists
	// scoped to computed ids (a client's services); Render then renders
	// only per-request fields, named in RenderSets, which the cached part
	// leaves out. See RenderCache for when it holds.
	Cache      *RenderCache
	RenderSets []string
}

// Scope restricts the entities of a resource a request sees.
type Scope struct {
	// By and Key, when By is set, keep the entities whose By index key is
	// Key (an identity's authenticators, a session's certificates), and a
	// list reads its candidates from that index instead of the whole kind.
	By  fsm.Multi
	Key string
	// Keep, if set, must also accept a record.
	Keep func(rec *fsm.Record) bool
	// IDs, if set, are the only candidates: computed in the list's own
	// read view (the services an identity may reach), so they agree with
	// the records listed.
	IDs func(rd *fsm.Reader) ([]string, error)
}

func (sc Scope) keeps(state *fsm.Store, rec *fsm.Record) bool {
	if sc.By != (fsm.Multi{}) && !slices.Contains(state.IndexKeys(sc.By, rec), sc.Key) {
		return false
	}
	return sc.Keep == nil || sc.Keep(rec)
}

// Write is one create, PUT or PATCH in progress, as a Check hook sees it.
type Write struct {
	R    *http.Request
	Mode Mode
	// ID is the entity's id (new on create).
	ID string
	// In is the request body.
	In api.Object
	// Body is what will be stored: on PUT and PATCH the stored body with
	// the body's fields applied. Old is the stored body (nil on create).
	Body, Old proto.Message
	// Tags are the tags to store; SetTags says whether they change.
	Tags    map[string]any
	SetTags bool
	// Fields are the proto fields this write sets; a hook that derives
	// more calls Set.
	Fields []string
	// Before and After are extra ops of the same command, applied before
	// and after the entity's own op.
	Before, After []*pb.Op
	// Explain, if set, maps a failed command's result to the answer
	// before the default mapping does (nil: use the default).
	Explain func(res *pb.Result) *api.Error
	// Reader is the read view the checks run in.
	Reader *fsm.Reader
}

// Set marks proto fields as written by this write.
func (w *Write) Set(fields ...string) {
	for _, f := range fields {
		if !w.Changes(f) {
			w.Fields = append(w.Fields, f)
		}
	}
}

// Changes reports whether this write sets the proto field.
func (w *Write) Changes(field string) bool {
	for _, f := range w.Fields {
		if f == field {
			return true
		}
	}
	return false
}

// Store is what the handlers need of the node: its replicated state and a
// way to replicate a command. Apply returns the state machine's result, or
// an API error when the command could not be replicated.
type Store struct {
	State *fsm.Store
	Apply func(r *http.Request, ops ...*pb.Op) (*pb.Result, *api.Error)
	// NewID makes a new entity's id (default: a random UUID).
	NewID func(r *http.Request) string
	// Remembered is the result an earlier attempt of the request (the same
	// client-chosen Idempotency-Key) got when it was applied already, and
	// nil otherwise (or when unset). A retry gets that attempt's answer,
	// not one judged against the state the attempt left: a retried delete
	// finds nothing left to delete.
	Remembered func(r *http.Request) (*pb.Result, error)
}

// newID is a new entity's id.
func (s *Store) newID(r *http.Request) string {
	if s.NewID != nil {
		return s.NewID(r)
	}
	return uuid.NewString()
}

// Retried answers a request whose earlier attempt (the same client-chosen
// Idempotency-Key) was applied already: retry is false when there was
// none, and aerr is the error that attempt got, nil when it succeeded.
// A handler asks when it would refuse the request for the state it read:
// that attempt may have left the state so. Asked after that read, it sees
// any attempt the read saw, because an attempt's result is remembered in
// the same apply as its change; asked before, it could miss one applied
// in between. Call it once the body is read (the fingerprint covers it).
// A request not refused is written, and a retry's write is deduplicated
// onto its first attempt, answering that attempt's result.
func (s *Store) Retried(r *http.Request) (retry bool, aerr *api.Error) {
	if s.Remembered == nil {
		return false, nil
	}
	res, err := s.Remembered(r)
	if err != nil {
		return true, api.Unhandled(err)
	}
	if res == nil {
		return false, nil
	}
	return true, api.FromResult(res)
}

// RetriedEmpty answers, with the spec's empty envelope on success, an
// update or delete whose earlier attempt was applied already.
func (s *Store) RetriedEmpty(w http.ResponseWriter, r *http.Request) (retry bool, err error) {
	retry, aerr := s.Retried(r)
	if !retry {
		return false, nil
	}
	if aerr != nil {
		return true, aerr
	}
	api.WriteEmpty(w)
	return true, nil
}

// apply replicates ops and maps a failed result, through explain first.
func (s *Store) apply(r *http.Request, explain func(*pb.Result) *api.Error, ops ...*pb.Op) *api.Error {
	res, aerr := s.Apply(r, ops...)
	if aerr != nil {
		return aerr
	}
	if res.GetCode() != pb.Result_OK && explain != nil {
		if aerr := explain(res); aerr != nil {
			return aerr
		}
	}
	return api.FromResult(res)
}

// Check verifies a resource's declaration against its kind's body message.
func (s *Store) Check(res *Resource) error {
	body, err := s.State.NewBody(res.Kind)
	if err != nil {
		return fmt.Errorf("resource %s: %w", res.Path, err)
	}
	md := body.ProtoReflect().Descriptor()
	seen := map[string]bool{}
	for i := range res.Fields {
		f := &res.Fields[i]
		if seen[f.Name] {
			return fmt.Errorf("resource %s: field %s is declared twice", res.Path, f.Name)
		}
		seen[f.Name] = true
		if err := checkField(md, f); err != nil {
			return fmt.Errorf("resource %s: %w", res.Path, err)
		}
	}
	return nil
}

// id is the {id} of the request path.
func id(r *http.Request) string { return mux.Vars(r)["id"] }

// load reads the entity the path names, within the request's scope.
func (s *Store) load(rd *fsm.Reader, res *Resource, r *http.Request) (*fsm.Record, error) {
	rec, err := rd.Get(res.Kind, id(r))
	if err != nil {
		return nil, api.NotFoundOr(err)
	}
	if res.Scope != nil {
		sc, err := res.Scope(r)
		if err != nil {
			return nil, err
		}
		if !sc.keeps(s.State, rec) {
			return nil, api.NotFound()
		}
	}
	return rec, nil
}

// RenderRecord renders one entity: the base fields, the declared fields, and the
// Render hook's.
func (res *Resource) RenderRecord(rd *fsm.Reader, rec *fsm.Record) (map[string]any, error) {
	out := res.renderDeclared(rd, rec)
	if res.Render != nil {
		if err := res.Render(rd, rec, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// renderDeclared renders the base entity and the declared fields.
func (res *Resource) renderDeclared(rd *fsm.Reader, rec *fsm.Record) map[string]any {
	out := BaseEntity(rec, res.Path)
	renderFields(rd, rec, res.Fields, rec.Body.ProtoReflect(), out)
	return out
}

// Detail answers GET Path/{id}.
func (s *Store) Detail(res *Resource) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var out map[string]any
		err := s.State.View(func(rd *fsm.Reader) error {
			rec, err := s.load(rd, res, r)
			if err != nil {
				return err
			}
			out, err = res.RenderRecord(rd, rec)
			return err
		})
		if err != nil {
			return api.NotFoundOr(err)
		}
		api.WriteData(w, http.StatusOK, out, api.Meta{})
		return nil
	})
}

// Create answers POST Path: the body's fields, the Check hook, then one
// command creating the entity with the hook's extra ops.
func (s *Store) Create(res *Resource) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		in, aerr := api.DecodeObject(r)
		if aerr != nil {
			return aerr
		}
		// The id comes first: a retry's NewID names what the first
		// attempt created.
		id := s.newID(r)
		body, err := s.State.NewBody(res.Kind)
		if err != nil {
			return api.Unhandled(err)
		}
		wr := &Write{R: r, Mode: Create, ID: id, In: in, Body: body}
		if err := s.prepare(res, wr); err != nil {
			if retry, aerr := s.Retried(r); retry {
				if aerr != nil {
					return aerr
				}
				if res.IDField != "" {
					id, _, _ = in.String(res.IDField)
				}
				api.WriteCreated(w, res.Path, id)
				return nil
			}
			return err
		}
		op, err := fsm.CreateOp(res.Kind, wr.ID, wr.Body, wr.Tags)
		if err != nil {
			return api.Unhandled(err)
		}
		if aerr := s.apply(r, wr.Explain, wr.ops(op)...); aerr != nil {
			return aerr
		}
		api.WriteCreated(w, res.Path, wr.ID)
		return nil
	})
}

// Update answers PUT Path/{id}; Patch answers PATCH Path/{id}.
func (s *Store) Update(res *Resource) http.HandlerFunc { return s.update(res, Put) }

// Patch answers PATCH Path/{id}: only the fields the body has change.
func (s *Store) Patch(res *Resource) http.HandlerFunc { return s.update(res, Patch) }

func (s *Store) update(res *Resource, mode Mode) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var rec *fsm.Record
		err := s.State.View(func(rd *fsm.Reader) error {
			var err error
			rec, err = s.load(rd, res, r)
			return err
		})
		in, aerr := api.DecodeObject(r)
		if err != nil {
			if aerr == nil {
				if retry, rerr := s.RetriedEmpty(w, r); retry {
					return rerr
				}
			}
			return api.NotFoundOr(err)
		}
		if aerr != nil {
			return aerr
		}
		wr := &Write{R: r, Mode: mode, ID: rec.ID, In: in, Body: proto.Clone(rec.Body), Old: rec.Body}
		if err := s.prepare(res, wr); err != nil {
			if retry, rerr := s.RetriedEmpty(w, r); retry {
				return rerr
			}
			return err
		}
		// Only the fields written are sent, so a concurrent change of
		// another field (an enrollment completing, say) is kept.
		fields := wr.Fields
		if wr.SetTags {
			fields = append(fields, "tags")
		}
		op, err := fsm.PatchOp(res.Kind, rec.ID, wr.Body, wr.Tags, fields...)
		if err != nil {
			return api.Unhandled(err)
		}
		if aerr := s.apply(r, wr.Explain, wr.ops(op)...); aerr != nil {
			return aerr
		}
		api.WriteEmpty(w)
		return nil
	})
}

// ReadBody reads a request body's declared fields and tags into wr (the
// parsing half of a write, before its Check hook): the fields it sets, the
// tags and whether they change. Every refusal is a 400.
func ReadBody(res *Resource, wr *Write) *api.Error {
	set, aerr := readFields(wr.Mode, wr.In, res.Fields, wr.Body.ProtoReflect(), "")
	if aerr != nil {
		return aerr
	}
	wr.Fields = set
	tags, ok, aerr := wr.In.Tags("tags")
	if aerr != nil {
		return aerr
	}
	wr.Tags, wr.SetTags = tags, ok || wr.In.Has("tags") || wr.Mode != Patch
	return nil
}

// prepare reads the body's fields and tags into wr and runs the Check hook.
func (s *Store) prepare(res *Resource, wr *Write) error {
	if aerr := ReadBody(res, wr); aerr != nil {
		return aerr
	}
	if res.Check == nil {
		return nil
	}
	err := s.State.View(func(rd *fsm.Reader) error {
		wr.Reader = rd
		defer func() { wr.Reader = nil }()
		return res.Check(wr)
	})
	if err != nil {
		return api.As(err)
	}
	return nil
}

func (wr *Write) ops(own *pb.Op) []*pb.Op {
	return append(append(append([]*pb.Op(nil), wr.Before...), own), wr.After...)
}

// Delete answers DELETE Path/{id}; references decide what goes with it
// (cascade) or whether it may go (restrict: 409).
func (s *Store) Delete(res *Resource) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var ops []*pb.Op
		err := s.State.View(func(rd *fsm.Reader) error {
			rec, err := s.load(rd, res, r)
			if err != nil {
				return err
			}
			ops = []*pb.Op{fsm.DeleteOp(res.Kind, rec.ID)}
			if res.BeforeDelete != nil {
				extra, err := res.BeforeDelete(rd, rec)
				if err != nil {
					return err
				}
				ops = append(ops, extra...)
			}
			return nil
		})
		if err != nil {
			if retry, rerr := s.RetriedEmpty(w, r); retry {
				return rerr
			}
			aerr := api.NotFoundOr(err)
			if res.AbsentDeleted && aerr.Status == http.StatusNotFound {
				// Absent, or outside this collection (an edge router
				// under /routers): only the first is deleted already.
				if _, err := s.State.Get(res.Kind, id(r)); err == nil {
					return api.Conflict("the entity is not one of " + res.Path + "; delete it where it is listed")
				}
				api.WriteEmpty(w)
				return nil
			}
			return aerr
		}
		if aerr := s.apply(r, nil, ops...); aerr != nil {
			if res.AbsentDeleted && aerr.Status == http.StatusNotFound {
				api.WriteEmpty(w)
				return nil
			}
			return aerr
		}
		api.WriteEmpty(w)
		return nil
	})
}
