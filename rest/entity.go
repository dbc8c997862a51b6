package rest

import (
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
)

// Timestamps are RFC 3339 with nanoseconds in UTC, as OpenZiti writes them.
func apiTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func links(self string) map[string]any {
	return map[string]any{"self": map[string]string{"href": self}}
}

// baseEntity renders the fields every entity shares; urlName is the
// entity's collection path segment ("identities").
func baseEntity(rec *fsm.Record, urlName string) map[string]any {
	tags := rec.Tags
	if tags == nil {
		tags = map[string]any{}
	}
	return map[string]any{
		"id":        rec.ID,
		"createdAt": apiTime(rec.CreatedAt),
		"updatedAt": apiTime(rec.UpdatedAt),
		"tags":      tags,
		"_links":    links("./" + urlName + "/" + rec.ID),
	}
}

// entityRef renders a reference to another entity.
func entityRef(urlName, id, name string) map[string]any {
	return map[string]any{"id": id, "name": name, "entity": urlName, "_links": links("./" + urlName + "/" + id)}
}
