package rest

import (
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// baseEntity renders the fields every entity shares; urlName is the
// entity's collection path segment ("identities").
func baseEntity(rec *fsm.Record, urlName string) map[string]any {
	tags := rec.Tags
	if tags == nil {
		tags = map[string]any{}
	}
	return map[string]any{
		"id":        rec.ID,
		"createdAt": api.Time(rec.CreatedAt),
		"updatedAt": api.Time(rec.UpdatedAt),
		"tags":      tags,
		"_links":    api.Links("./" + urlName + "/" + rec.ID),
	}
}

// entityRef renders a reference to another entity.
func entityRef(urlName, id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "entity": urlName, "_links": api.Links("./" + urlName + "/" + id)}
}
