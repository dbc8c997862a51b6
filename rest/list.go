package rest

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Paging defaults and bounds, as OpenZiti has them.
const (
	defaultLimit = 10
	maxLimit     = 500
	maxFilterLen = 4096
)

// listSpec describes one list endpoint to the generic list code.
type listSpec struct {
	kind string
	// fields are the filterable fields besides id, createdAt, updatedAt and
	// tags.*, with the function reading them from a record.
	fields map[string]query.FieldType
	value  func(rec *fsm.Record, field string) (any, bool)
	// indexes maps a field to the store index that holds its values, for
	// filters that can start from an index instead of a full scan.
	indexes map[string]fsm.IndexRef
	// keep, if set, restricts the list (e.g. to the caller's own entities).
	keep func(rec *fsm.Record) bool
	// scan, if set, yields the candidates when no filter hint narrows the
	// list: a superset of what keep accepts, read through an index instead
	// of every entity of the kind.
	scan func(rd *fsm.Reader, fn func(*fsm.Record) error) error
	// noQuery lists everything kept, ignoring filter and paging parameters,
	// for endpoints the spec gives none.
	noQuery bool
	render  func(rd *fsm.Reader, rec *fsm.Record) map[string]any
}

// listRecord adapts a stored record to the query language.
type listRecord struct {
	rec  *fsm.Record
	spec *listSpec
}

func (l listRecord) Field(name string) (any, bool) {
	switch name {
	case "id":
		return l.rec.ID, true
	case "createdAt":
		return l.rec.CreatedAt, true
	case "updatedAt":
		return l.rec.UpdatedAt, true
	}
	if tag, ok := strings.CutPrefix(name, "tags."); ok {
		v, ok := l.rec.Tags[tag]
		return v, ok
	}
	return l.spec.value(l.rec, name)
}

func (spec *listSpec) allFields() map[string]query.FieldType {
	all := map[string]query.FieldType{"id": query.String, "createdAt": query.Datetime, "updatedAt": query.Datetime, "tags.*": query.Any}
	for k, v := range spec.fields {
		all[k] = v
	}
	return all
}

func (spec *listSpec) filterableFields() []string {
	var out []string
	for k := range spec.allFields() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func errFilter(err error) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
		Message: "The filter query supplied is invalid", CauseMessage: err.Error()}
}

func errPagination(msg string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidPagination,
		Message: "The pagination properties provided are invalid", CauseMessage: msg}
}

// pageParams reads limit and offset; the filter's own limit and skip win.
func pageParams(r *http.Request, q *query.Query) (offset, limit int64, aerr *api.Error) {
	limit, offset = defaultLimit, 0
	v := r.URL.Query()
	if s := v.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, errPagination("limit must be a non-negative integer")
		}
		limit = n
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, errPagination("offset must be a non-negative integer")
		}
		offset = n
	}
	if q.Limit != nil {
		limit = *q.Limit
		if limit == query.LimitNone {
			limit = maxLimit
		}
	}
	if q.Skip != nil {
		offset = *q.Skip
	}
	return offset, min(limit, maxLimit), nil
}

var errStopScan = errors.New("stop scan")

// list answers a list request for spec: filter, sort, page, render.
func (s *Server) list(w http.ResponseWriter, r *http.Request, spec *listSpec) error {
	if spec.noQuery {
		r = r.Clone(r.Context())
		r.URL.RawQuery = url.Values{"limit": {strconv.Itoa(maxLimit)}}.Encode()
	}
	filter := r.URL.Query().Get("filter")
	if len(filter) > maxFilterLen {
		return errFilter(errors.New("the filter is longer than 4096 bytes"))
	}
	q, err := query.Parse(filter)
	if err != nil {
		return errFilter(err)
	}
	// The sort parameter ("name desc,createdAt") applies when the filter
	// has no sort by clause of its own.
	if sortParam := r.URL.Query().Get("sort"); sortParam != "" && len(q.Sort) == 0 {
		sq, err := query.Parse("sort by " + sortParam)
		if err != nil || sq.Where != nil || sq.Skip != nil || sq.Limit != nil {
			return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
				Message: "The sort parameter is invalid", Cause: &api.FieldError{Field: "sort", Reason: "want FIELD [asc|desc], ...", Value: sortParam}}
		}
		q.Sort = sq.Sort
	}
	if err := q.Validate(spec.allFields()); err != nil {
		return errFilter(err)
	}
	offset, limit, aerr := pageParams(r, q)
	if aerr != nil {
		return aerr
	}
	var page []map[string]any
	var total int64
	err = s.store.View(func(rd *fsm.Reader) error {
		// Unfiltered, default order: page straight from the id-ordered
		// bucket, decoding only the page.
		if q.Where == nil && len(q.Sort) == 0 && spec.keep == nil {
			n, err := rd.Count(spec.kind)
			if err != nil {
				return err
			}
			total = int64(n)
			i := int64(0)
			err = rd.ForEach(spec.kind, func(rec *fsm.Record) error {
				if i >= offset+limit {
					return errStopScan
				}
				if i >= offset {
					page = append(page, spec.render(rd, rec))
				}
				i++
				return nil
			})
			if errors.Is(err, errStopScan) {
				err = nil
			}
			return err
		}
		var matches []*fsm.Record
		var matchErr error
		consider := func(rec *fsm.Record) error {
			if spec.keep != nil && !spec.keep(rec) {
				return nil
			}
			ok, err := q.Match(listRecord{rec, spec})
			if err != nil {
				matchErr = err
				return errStopScan
			}
			if ok {
				matches = append(matches, rec)
			}
			return nil
		}
		if err := s.scanCandidates(rd, spec, q, consider); err != nil && !errors.Is(err, errStopScan) {
			return err
		}
		if matchErr != nil {
			return errFilter(matchErr)
		}
		sort.SliceStable(matches, func(i, j int) bool {
			a, b := listRecord{matches[i], spec}, listRecord{matches[j], spec}
			if q.Less(a, b) {
				return true
			}
			if q.Less(b, a) {
				return false
			}
			return matches[i].ID < matches[j].ID
		})
		total = int64(len(matches))
		for i := offset; i < total && i < offset+limit; i++ {
			page = append(page, spec.render(rd, matches[i]))
		}
		return nil
	})
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	if err != nil {
		return api.Unhandled(err)
	}
	if page == nil {
		page = []map[string]any{}
	}
	api.WriteData(w, http.StatusOK, page, api.Meta{
		Pagination:       &api.Pagination{Limit: limit, Offset: offset, TotalCount: total},
		FilterableFields: spec.filterableFields(),
	})
	return nil
}

// scanCandidates calls fn for every record that may match q: the records an
// index gives for the first usable hint, or all of them. fn still matches.
func (s *Server) scanCandidates(rd *fsm.Reader, spec *listSpec, q *query.Query, fn func(*fsm.Record) error) error {
	for _, h := range q.Hints() {
		var ids []string
		var err error
		if tag, ok := strings.CutPrefix(h.Field, "tags."); ok && (h.Op == "eq" || h.Op == "in") {
			for _, v := range h.Values {
				got, err := rd.IDsByTag(spec.kind, tag, v)
				if err != nil {
					return err
				}
				ids = append(ids, got...)
			}
		} else if index, ok := spec.indexes[h.Field]; ok {
			switch h.Op {
			case "eq", "in", "anyOf":
				for _, v := range h.Values {
					err = rd.ScanPrefix(index, v, func(key, id string) error {
						if key == v {
							ids = append(ids, id)
						}
						return nil
					})
					if err != nil {
						return err
					}
				}
			case "prefix":
				err = rd.ScanPrefix(index, h.Values[0], func(_, id string) error {
					ids = append(ids, id)
					return nil
				})
				if err != nil {
					return err
				}
			default:
				continue
			}
		} else {
			continue
		}
		slices.Sort(ids)
		for _, id := range slices.Compact(ids) {
			rec, err := rd.Get(spec.kind, id)
			if errors.Is(err, fsm.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	}
	if spec.scan != nil {
		return spec.scan(rd, fn)
	}
	return rd.ForEach(spec.kind, fn)
}

func nanosTime(n int64) any {
	if n == 0 {
		return nil
	}
	return time.Unix(0, n).UTC()
}
