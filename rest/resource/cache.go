package resource

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	gojson "github.com/goccy/go-json"

	"github.com/garrison-ctrl/garrison/fsm"
)

// RenderCache keeps, per entity id, the decoded record and the JSON of its
// declared fields, keyed by the entity's stored bytes: an entity unchanged
// since it was last listed is neither decoded nor rendered nor encoded
// again, and a changed one never matches (its bytes differ), so there is
// nothing to invalidate. It holds for resources whose declared fields
// render from the entity alone: a Ref field with an entityRef (another
// entity's name) disables it. At most max entries; past that it starts
// empty again.
type RenderCache struct {
	mu      sync.Mutex
	max     int
	entries map[string]*cached
}

type cached struct {
	raw []byte
	rec *fsm.Record
	// open is the JSON object of the declared fields without its closing
	// brace, so per-request fields can follow.
	open []byte
}

// NewRenderCache returns a cache of at most max entities.
func NewRenderCache(max int) *RenderCache {
	return &RenderCache{max: max, entries: map[string]*cached{}}
}

// cacheable reports whether res's declared fields render from the entity
// alone.
func (res *Resource) cacheable() bool {
	if res.Cache == nil {
		return false
	}
	for _, f := range res.Fields {
		if f.Type == Ref && f.RefName != "" {
			return false
		}
	}
	return true
}

// appendCached appends to buf the JSON of the entity id of res: its
// declared fields from the cache (filled on a miss), followed by what
// res.Render sets for this request. It returns fsm.ErrNotFound for an
// entity that does not exist.
func (res *Resource) appendCached(buf []byte, rd *fsm.Reader, id string) ([]byte, error) {
	raw, err := rd.Raw(res.Kind, id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("%s %s: %w", res.Kind, id, fsm.ErrNotFound)
	}
	c := res.Cache
	c.mu.Lock()
	e := c.entries[id]
	c.mu.Unlock()
	if e == nil || !bytes.Equal(e.raw, raw) {
		if e, err = res.fill(rd, id, raw); err != nil {
			return nil, err
		}
	}
	buf = append(buf, e.open...)
	extra := map[string]any{}
	if res.Render != nil {
		if err := res.Render(rd, e.rec, extra); err != nil {
			return nil, err
		}
	}
	if len(extra) == 0 {
		return append(buf, '}'), nil
	}
	js, err := gojson.MarshalNoEscape(extra)
	if err != nil {
		return nil, err
	}
	if len(e.open) > 1 { // more than "{"
		buf = append(buf, ',')
	}
	return append(buf, js[1:]...), nil
}

// fill decodes and renders one entity into the cache, leaving out the
// fields res.Render sets for each request.
func (res *Resource) fill(rd *fsm.Reader, id string, raw []byte) (*cached, error) {
	rec, err := rd.Decode(res.Kind, raw)
	if err != nil {
		return nil, err
	}
	out := res.renderDeclared(rd, rec)
	for _, name := range res.RenderSets {
		delete(out, name)
	}
	js, err := gojson.MarshalNoEscape(out)
	if err != nil {
		return nil, err
	}
	if len(js) < 2 || js[0] != '{' || js[len(js)-1] != '}' {
		return nil, errors.New("rendered entity is not a JSON object")
	}
	e := &cached{raw: bytes.Clone(raw), rec: rec, open: js[:len(js)-1]}
	c := res.Cache
	c.mu.Lock()
	if len(c.entries) >= c.max {
		c.entries = map[string]*cached{}
	}
	c.entries[id] = e
	c.mu.Unlock()
	return e, nil
}
