package rest

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// FuzzResourceBodies: the body of a create, PUT or PATCH of every declared
// resource, whatever its bytes, is read without a panic, and a refusal is
// always a 400. pick chooses the resource, so one corpus covers them all.
func FuzzResourceBodies(f *testing.F) {
	state, err := fsm.Open(filepath.Join(f.TempDir(), "state.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = state.Close() })
	s := &Server{}
	all := s.declare()
	decls := all.all()
	for i, body := range []string{
		`{"name":"a","type":"User","isAdmin":false,"roleAttributes":["x"],"tags":{"k":"v"}}`,
		`{"name":"s","encryptionRequired":true,"configs":["c"],"terminatorStrategy":"smartrouting"}`,
		`{"name":"p","type":"Dial","semantic":"AnyOf","identityRoles":["#all"],"serviceRoles":["@s"],"postureCheckRoles":[]}`,
		`{"name":"c","configTypeId":"t","data":{"a":[1,2,{"b":null}]}}`,
		`{"name":"ca","isAutoCaEnrollmentEnabled":true,"externalIdClaim":{"location":"SAN_URI","matcher":"ALL","parser":"NONE","index":0},"certPem":"x"}`,
		`{"primary":{"cert":{"allowed":true,"allowExpiredCerts":false},"updb":{"allowed":true,"minPasswordLength":5,"maxAttempts":0}},"secondary":{"requireTotp":false}}`,
		`{"method":"updb","identityId":"i","username":"u","password":"p"}`,
		`{"appData":{"v":"x"},"tags":null,"disabledUntil":"2030-01-01T00:00:00Z"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		in, aerr := api.ParseObject(body)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest {
				t.Fatalf("parse: status %d", aerr.Status)
			}
			return
		}
		res := decls[int(pick)%len(decls)]
		for _, mode := range []resource.Mode{resource.Create, resource.Put, resource.Patch} {
			msg, err := state.NewBody(res.Kind)
			if err != nil {
				t.Fatal(err)
			}
			if aerr := resource.ReadBody(res, &resource.Write{Mode: mode, In: in, Body: msg}); aerr != nil && aerr.Status != http.StatusBadRequest {
				t.Fatalf("%s %v: status %d", res.Path, mode, aerr.Status)
			}
		}
	})
}
