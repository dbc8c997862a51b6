package rest

import (
	"net/http"
	"regexp"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// What only a data plane has: the fabric API's links between routers,
// circuits through them, and inspections of running routers. Garrison has
// no data plane, so there are none: lists are empty, an id is 404 where
// the spec has a 404, and a delete of one the spec gives no 404 answers
// 200 (it does not exist afterwards either way).

// absentEntity answers GET (and PATCH) of one link or circuit: 404, after
// reading the body of a PATCH as any write would.
func absentEntity(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodPatch {
		if _, aerr := api.DecodeObject(r); aerr != nil {
			return aerr
		}
	}
	return api.NotFound()
}

// absentDeleted answers DELETE of a link or circuit: nothing to remove
// (deleteCircuit's optional options change nothing then).
func absentDeleted(w http.ResponseWriter, _ *http.Request) error {
	api.WriteEmpty(w)
	return nil
}

// maxInspectValues bounds an inspection request.
const maxInspectValues = 100

// inspect answers POST /inspections: no router or controller application
// matches, so the answer is a success without values, unless the request
// is malformed (the spec documents no 400: a failure says why).
func (s *Server) inspect(w http.ResponseWriter, r *http.Request) error {
	var errs []string
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		if aerr.Status != http.StatusBadRequest {
			return aerr
		}
		in, errs = api.Object{}, []string{aerr.Message + ": " + aerr.CauseMessage}
	}
	re, ok, aerr := in.String("appRegex")
	switch {
	case aerr != nil:
		errs = append(errs, aerr.CauseMessage)
	case !ok && len(errs) == 0:
		errs = append(errs, "appRegex: is required")
	default:
		if _, err := regexp.Compile(re); err != nil {
			errs = append(errs, "appRegex: "+err.Error())
		}
	}
	values, ok, aerr := in.Strings("requestedValues")
	switch {
	case aerr != nil:
		errs = append(errs, aerr.CauseMessage)
	case !ok && len(errs) == 0:
		errs = append(errs, "requestedValues: is required")
	case len(values) > maxInspectValues:
		errs = append(errs, "requestedValues: at most 100 values may be requested")
	}
	if errs == nil {
		errs = []string{}
	}
	// The spec's inspectResponse is the body itself, not in an envelope.
	api.WriteJSON(w, http.StatusOK, map[string]any{"success": len(errs) == 0, "errors": errs, "values": []any{}})
	return nil
}
