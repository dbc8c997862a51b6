package resource

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Paging defaults and bounds, as OpenZiti has them.
const (
	defaultLimit = 10
	maxLimit     = 500
	maxFilterLen = 4096
	// A sort names a few fields; more only costs comparisons.
	maxSortLen  = 1024
	maxSortKeys = 16
)

// baseFilters are the filter fields every entity has.
func baseFilters() map[string]query.FieldType {
	return map[string]query.FieldType{"id": query.String, "createdAt": query.Datetime,
		"updatedAt": query.Datetime, "tags.*": query.Any, "isSystem": query.Bool}
}

// filterIndex maps every filter name of the resource to its field.
func (res *Resource) filterIndex() map[string]*Field {
	out := map[string]*Field{}
	for i := range res.Fields {
		for _, n := range res.Fields[i].filterNames() {
			out[n] = &res.Fields[i]
		}
	}
	return out
}

// FilterFields are the names list filters of the resource may use, with
// their types.
func (res *Resource) FilterFields() map[string]query.FieldType {
	all := baseFilters()
	for i := range res.Fields {
		for _, n := range res.Fields[i].filterNames() {
			all[n] = res.Fields[i].Type.queryType()
		}
	}
	return all
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// listRecord adapts a stored record to the query language.
type listRecord struct {
	rd     *fsm.Reader
	rec    *fsm.Record
	fields map[string]*Field // filter name -> field
}

func (l listRecord) Field(name string) (any, bool) {
	switch name {
	case "id":
		return l.rec.ID, true
	case "createdAt":
		return l.rec.CreatedAt, true
	case "updatedAt":
		return l.rec.UpdatedAt, true
	case "isSystem":
		return false, true
	}
	if tag, ok := strings.CutPrefix(name, "tags."); ok {
		v, ok := l.rec.Tags[tag]
		return v, ok
	}
	if f := l.fields[name]; f != nil {
		return filterValue(l.rd, l.rec, f)
	}
	return nil, false
}

func errFilter(err error) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
		Message: "The filter query supplied is invalid", CauseMessage: err.Error()}
}

func errPagination(msg string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidPagination,
		Message: "The pagination properties provided are invalid", CauseMessage: msg}
}

// parseQuery reads filter, sort, limit and offset. A filter's own sort,
// skip and limit win over the parameters.
func parseQuery(r *http.Request, fields map[string]query.FieldType, defLimit int64) (*query.Query, int64, int64, *api.Error) {
	v := r.URL.Query()
	filter := v.Get("filter")
	if len(filter) > maxFilterLen {
		return nil, 0, 0, errFilter(errors.New("the filter is longer than 4096 bytes"))
	}
	q, err := query.Parse(filter)
	if err != nil {
		return nil, 0, 0, errFilter(err)
	}
	// The sort parameter ("name desc,createdAt") applies when the filter
	// has no sort by clause of its own.
	if sortParam := v.Get("sort"); sortParam != "" && len(q.Sort) == 0 {
		sq, err := query.Parse("sort by " + sortParam)
		if err != nil || sq.Where != nil || sq.Skip != nil || sq.Limit != nil || len(sortParam) > maxSortLen {
			return nil, 0, 0, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
				Message: "The sort parameter is invalid", Cause: &api.FieldError{Field: "sort", Reason: "want FIELD [asc|desc], ...", Value: sortParam}}
		}
		q.Sort = sq.Sort
	}
	if len(q.Sort) > maxSortKeys {
		return nil, 0, 0, errFilter(fmt.Errorf("at most %d sort keys", maxSortKeys))
	}
	if err := q.Validate(fields); err != nil {
		return nil, 0, 0, errFilter(err)
	}
	limit, offset := defLimit, int64(0)
	if s := v.Get("limit"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, 0, errPagination("limit must be a non-negative integer")
		}
		limit = n
	}
	if s := v.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, 0, errPagination("offset must be a non-negative integer")
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
	return q, offset, min(limit, maxLimit), nil
}

var errStopScan = errors.New("stop scan")

// List answers GET Path: filter, sort, page, render.
func (s *Store) List(res *Resource) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		var sc Scope
		if res.Scope != nil {
			var err error
			if sc, err = res.Scope(r); err != nil {
				return api.As(err)
			}
		}
		return s.list(w, r, res, sc, defaultLimit)
	})
}

// list answers a list of res within sc. defLimit is the page size when the
// request gives none; -1 ignores the query parameters (for lists the spec
// gives none) and lists everything in scope.
// ListIn answers a list of res within sc, with the query's filter, sort
// and paging: for lists whose scope depends on the caller.
func (s *Store) ListIn(w http.ResponseWriter, r *http.Request, res *Resource, sc Scope) error {
	return s.list(w, r, res, sc, defaultLimit)
}

func (s *Store) list(w http.ResponseWriter, r *http.Request, res *Resource, sc Scope, defLimit int64) error {
	if defLimit < 0 {
		defLimit = defaultLimit
		r = r.Clone(r.Context())
		r.URL.RawQuery = url.Values{"limit": {strconv.Itoa(maxLimit)}}.Encode()
	}
	fields := res.FilterFields()
	q, offset, limit, aerr := parseQuery(r, fields, defLimit)
	if aerr != nil {
		return aerr
	}
	scoped := sc.By != (fsm.Multi{}) || sc.Keep != nil || sc.IDs != nil
	byName := res.filterIndex()
	var page []any
	var encoded []byte // the page as JSON, spliced from res.Cache
	var total int64
	err := s.State.View(func(rd *fsm.Reader) error {
		// Unfiltered, default order: page straight from the id-ordered
		// bucket, decoding only the page.
		if q.Where == nil && len(q.Sort) == 0 && !scoped {
			n, err := rd.Count(res.Kind)
			if err != nil {
				return err
			}
			total = int64(n)
			i := int64(0)
			err = rd.ForEach(res.Kind, func(rec *fsm.Record) error {
				if i >= offset+limit {
					return errStopScan
				}
				if i >= offset {
					out, err := res.RenderRecord(rd, rec)
					if err != nil {
						return err
					}
					page = append(page, out)
				}
				i++
				return nil
			})
			if errors.Is(err, errStopScan) {
				err = nil
			}
			return err
		}
		// Scoped to computed ids only, unfiltered, default order: the page
		// is a slice of the sorted ids, and only the page is decoded (an
		// identity that may reach every service lists 500 of 10,000).
		if q.Where == nil && len(q.Sort) == 0 && sc.IDs != nil && sc.By == (fsm.Multi{}) && sc.Keep == nil {
			ids, err := sc.IDs(rd)
			if err != nil {
				return err
			}
			page, encoded, total, err = res.pageOfIDs(rd, ids, offset, limit)
			return err
		}
		var matches []*fsm.Record
		var matchErr error
		consider := func(rec *fsm.Record) error {
			if scoped && !sc.keeps(s.State, rec) {
				return nil
			}
			ok, err := q.Match(listRecord{rd, rec, byName})
			if err != nil {
				matchErr = err
				return errStopScan
			}
			if ok {
				matches = append(matches, rec)
			}
			return nil
		}
		if err := s.candidates(rd, res.Kind, byName, sc, q, consider); err != nil && !errors.Is(err, errStopScan) {
			return err
		}
		if matchErr != nil {
			return errFilter(matchErr)
		}
		sort.SliceStable(matches, func(i, j int) bool {
			a, b := listRecord{rd, matches[i], byName}, listRecord{rd, matches[j], byName}
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
			out, err := res.RenderRecord(rd, matches[i])
			if err != nil {
				return err
			}
			page = append(page, out)
		}
		return nil
	})
	if err != nil {
		return api.As(err)
	}
	meta := api.Meta{
		Pagination:       &api.Pagination{Limit: limit, Offset: offset, TotalCount: total},
		FilterableFields: sortedKeys(fields),
	}
	if encoded != nil {
		if err := api.WriteEncodedData(w, http.StatusOK, encoded, meta); err != nil {
			return api.Unhandled(err)
		}
		return nil
	}
	if page == nil {
		page = []any{}
	}
	api.WriteData(w, http.StatusOK, page, meta)
	return nil
}

// candidates calls fn for every record that may match: those of the
// scope's index, else those an index gives for the first usable hint of
// the filter, else all of the kind. fn still matches each.
func (s *Store) candidates(rd *fsm.Reader, kind string, byName map[string]*Field, sc Scope, q *query.Query, fn func(*fsm.Record) error) error {
	if sc.IDs != nil {
		ids, err := sc.IDs(rd)
		if err != nil {
			return err
		}
		return eachID(rd, kind, ids, fn)
	}
	if sc.By != (fsm.Multi{}) {
		ids, err := rd.IDsByIndex(sc.By, sc.Key)
		if err != nil {
			return err
		}
		return eachID(rd, kind, ids, fn)
	}
	for _, h := range q.Hints() {
		var ids []string
		var err error
		var ix fsm.IndexRef
		if tag, ok := strings.CutPrefix(h.Field, "tags."); ok && (h.Op == "eq" || h.Op == "in") {
			for _, v := range h.Values {
				got, err := rd.IDsByTag(kind, tag, v)
				if err != nil {
					return err
				}
				ids = append(ids, got...)
			}
		} else if f := byName[h.Field]; f != nil && f.Index != nil {
			ix = f.Index
			switch h.Op {
			case "eq", "in", "anyOf":
				for _, v := range h.Values {
					err = rd.ScanPrefix(ix, v, func(key, id string) error {
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
				err = rd.ScanPrefix(ix, h.Values[0], func(_, id string) error {
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
		return eachID(rd, kind, slices.Compact(ids), fn)
	}
	return rd.ForEach(kind, fn)
}

func eachID(rd *fsm.Reader, kind string, ids []string, fn func(*fsm.Record) error) error {
	for _, id := range ids {
		rec, err := rd.Get(kind, id)
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

// pageOfIDs renders the page [offset, offset+limit) of ids (those that
// exist, in id order) and counts them: as encoded JSON spliced from the
// render cache when res has one that holds, else as rendered entities.
func (res *Resource) pageOfIDs(rd *fsm.Reader, ids []string, offset, limit int64) (page []any, encoded []byte, total int64, err error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	present := ids[:0:0]
	for _, id := range ids {
		ok, err := rd.Has(res.Kind, id)
		if err != nil {
			return nil, nil, 0, err
		}
		if ok {
			present = append(present, id)
		}
	}
	total = int64(len(present))
	end := min(offset+limit, total)
	if res.cacheable() {
		encoded = append(encoded, '[')
		for i := offset; i < end; i++ {
			if i > offset {
				encoded = append(encoded, ',')
			}
			if encoded, err = res.appendCached(encoded, rd, present[i]); err != nil {
				return nil, nil, 0, err
			}
		}
		return nil, append(encoded, ']'), total, nil
	}
	for i := offset; i < end; i++ {
		rec, err := rd.Get(res.Kind, present[i])
		if err != nil {
			return nil, nil, 0, err
		}
		out, err := res.RenderRecord(rd, rec)
		if err != nil {
			return nil, nil, 0, err
		}
		page = append(page, out)
	}
	return page, nil, total, nil
}
