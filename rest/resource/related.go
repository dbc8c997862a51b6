package resource

import (
	"fmt"
	"net/http"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Lists beside an entity's own collection: its children, the lists of
// what Garrison does not have yet, and the distinct keys of an index.

// SubList answers GET parent.Path/{id}/child.Path: the children whose By
// index key is the parent's id (a config type's configs). The spec gives
// these lists no parameters, so filter and paging parameters are ignored
// and the list holds every child (up to 500, the most any page holds;
// meta.pagination.totalCount says how many there are).
func (s *Store) SubList(parent, child *Resource, by fsm.Multi) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.exists(parent, r); err != nil {
			return err
		}
		sc := Scope{By: by, Key: id(r)}
		if child.Scope != nil {
			// The child's own scope holds as well: a sub-list never shows
			// more than the child's list would.
			more, err := child.Scope(r)
			if err != nil {
				return api.As(err)
			}
			sc.Keep = func(rec *fsm.Record) bool { return more.keeps(s.State, rec) }
		}
		return s.list(w, r, child, sc, -1)
	})
}

// Named answers GET parent.Path/{id}/child.Path for a parent that names
// its children by id in the string-list field proto (a service's configs),
// with the same rules as SubList.
func (s *Store) Named(parent, child *Resource, proto string) http.HandlerFunc {
	return s.Related(parent, child, func(_ *fsm.Reader, rec *fsm.Record) ([]string, error) {
		msg := rec.Body.ProtoReflect()
		fd := msg.Descriptor().Fields().ByName(protoreflect.Name(proto))
		if fd == nil || !fd.IsList() {
			return nil, fmt.Errorf("%s has no list field %q", parent.Kind, proto)
		}
		list := msg.Get(fd).List()
		ids := make([]string, 0, list.Len())
		for i := range list.Len() {
			ids = append(ids, list.Get(i).String())
		}
		return ids, nil
	})
}

// Related answers GET parent.Path/{id}/child.Path with the children ids
// names for the parent (the services a policy matches), worked out in the
// list's read view, with the same rules as SubList.
func (s *Store) Related(parent, child *Resource, ids func(rd *fsm.Reader, parent *fsm.Record) ([]string, error)) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.exists(parent, r); err != nil {
			return err
		}
		sc := Scope{IDs: func(rd *fsm.Reader) ([]string, error) {
			rec, err := s.load(rd, parent, r)
			if err != nil {
				return nil, err
			}
			return ids(rd, rec)
		}}
		if child.Scope != nil {
			more, err := child.Scope(r)
			if err != nil {
				return api.As(err)
			}
			sc.Keep = func(rec *fsm.Record) bool { return more.keeps(s.State, rec) }
		}
		return s.list(w, r, child, sc, -1)
	})
}

// exists answers 404 unless the entity the path names exists (in scope).
func (s *Store) exists(res *Resource, r *http.Request) *api.Error {
	err := s.State.View(func(rd *fsm.Reader) error {
		_, err := s.load(rd, res, r)
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	return nil
}

// Empty answers a list of a resource Garrison does not have yet (a config's
// services; an identity's services) for an entity of parent that exists, or,
// with a nil parent, at the top level: no items.
func (s *Store) Empty(parent *Resource) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if parent != nil {
			if err := s.exists(parent, r); err != nil {
				return err
			}
		}
		_, offset, limit, aerr := parseQuery(r, baseFilters(), defaultLimit)
		if aerr != nil {
			return aerr
		}
		api.WriteData(w, http.StatusOK, []any{}, api.Meta{
			Pagination: &api.Pagination{Limit: limit, Offset: offset}, FilterableFields: sortedKeys(baseFilters())})
		return nil
	})
}

// IndexKeys answers the distinct keys of an index as a list of strings
// (/identity-role-attributes), with the id filter, paging and no render.
func (s *Store) IndexKeys(ix fsm.IndexRef) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		fields := map[string]query.FieldType{"id": query.String}
		q, offset, limit, aerr := parseQuery(r, fields, defaultLimit)
		if aerr != nil {
			return aerr
		}
		var all []string
		err := s.State.View(func(rd *fsm.Reader) error {
			keys, _, err := rd.Keys(ix, 0, -1)
			all = keys
			return err
		})
		if err != nil {
			return api.Unhandled(err)
		}
		var matched []string
		for _, k := range all {
			if ok, err := q.Match(keyRecord(k)); err != nil {
				return errFilter(err)
			} else if ok {
				matched = append(matched, k)
			}
		}
		if len(q.Sort) > 0 && q.Sort[0].Desc {
			slices.Reverse(matched)
		}
		page := []string{}
		for i := offset; i < int64(len(matched)) && i < offset+limit; i++ {
			page = append(page, matched[i])
		}
		api.WriteData(w, http.StatusOK, page, api.Meta{
			Pagination:       &api.Pagination{Limit: limit, Offset: offset, TotalCount: int64(len(matched))},
			FilterableFields: []string{"id"},
		})
		return nil
	})
}

type keyRecord string

func (k keyRecord) Field(name string) (any, bool) {
	if name == "id" {
		return string(k), true
	}
	return nil, false
}
