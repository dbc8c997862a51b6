package rest

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// An identity's service configs (/identities/{id}/service-configs) override,
// for that identity, a service's config of the same config type: the client
// API resolves the override instead (serviceConfig). They are stored on the
// identity; deleting the service drops them, a config in use cannot be
// deleted.

// maxServiceConfigs bounds an identity's overrides.
const maxServiceConfigs = 500

// pair is one serviceConfigAssign of the spec.
type pair struct {
	ServiceID string `json:"serviceId"`
	ConfigID  string `json:"configId"`
}

// readPairs reads a serviceConfigsAssignList body; an empty body is none.
func readPairs(r *http.Request) ([]pair, *api.Error) {
	data, aerr := api.ReadBody(r, api.MaxBody)
	if aerr != nil {
		return nil, aerr
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if aerr := api.CheckJSON(data); aerr != nil {
		return nil, aerr
	}
	var pairs []pair
	if err := jsonv2.Unmarshal(data, &pairs, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, api.BadBody(fmt.Errorf("the body must be an array of {serviceId, configId}: %v", err))
	}
	if len(pairs) > maxServiceConfigs {
		return nil, api.Invalid("serviceConfigs", fmt.Sprintf("at most %d pairs", maxServiceConfigs), nil)
	}
	for i, p := range pairs {
		if p.ServiceID == "" || p.ConfigID == "" {
			return nil, api.Invalid(fmt.Sprintf("%d", i), "serviceId and configId are required", nil)
		}
	}
	return pairs, nil
}

// listServiceConfigs answers GET /identities/{id}/service-configs.
func (s *Server) listServiceConfigs(w http.ResponseWriter, r *http.Request) error {
	var out []map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindIdentity, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		out = []map[string]any{}
		for _, sc := range rec.Body.(*pb.Identity).GetServiceConfigs() {
			out = append(out, map[string]any{
				"serviceId": sc.GetServiceId(), "service": EntityRef("services", sc.GetServiceId(), NameOf(rd, fsm.KindService, sc.GetServiceId())),
				"configId": sc.GetConfigId(), "config": EntityRef("configs", sc.GetConfigId(), NameOf(rd, fsm.KindConfig, sc.GetConfigId())),
			})
		}
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// assignServiceConfigs answers POST /identities/{id}/service-configs: each
// pair replaces the identity's override of that service and config type.
func (s *Server) assignServiceConfigs(w http.ResponseWriter, r *http.Request) error {
	pairs, aerr := readPairs(r)
	if aerr != nil {
		return aerr
	}
	return s.changeServiceConfigs(w, r, func(rd *fsm.Reader, cur []*pb.ServiceConfig) ([]*pb.ServiceConfig, error) {
		for _, p := range pairs {
			if _, err := rd.Get(fsm.KindService, p.ServiceID); errors.Is(err, fsm.ErrNotFound) {
				return nil, api.Invalid("serviceId", "no service with this id exists", p.ServiceID)
			} else if err != nil {
				return nil, err
			}
			typ, err := configType(rd, p.ConfigID)
			if errors.Is(err, fsm.ErrNotFound) {
				return nil, api.Invalid("configId", "no config with this id exists", p.ConfigID)
			} else if err != nil {
				return nil, err
			}
			cur = slices.DeleteFunc(cur, func(sc *pb.ServiceConfig) bool {
				t, _ := configType(rd, sc.GetConfigId())
				return sc.GetServiceId() == p.ServiceID && t == typ
			})
			cur = append(cur, &pb.ServiceConfig{ServiceId: p.ServiceID, ConfigId: p.ConfigID})
		}
		if len(cur) > maxServiceConfigs {
			return nil, api.Invalid("serviceConfigs", fmt.Sprintf("an identity holds at most %d", maxServiceConfigs), nil)
		}
		return cur, nil
	})
}

// removeServiceConfigs answers DELETE /identities/{id}/service-configs: the
// pairs named, or all of them with no body.
func (s *Server) removeServiceConfigs(w http.ResponseWriter, r *http.Request) error {
	pairs, aerr := readPairs(r)
	if aerr != nil {
		return aerr
	}
	return s.changeServiceConfigs(w, r, func(_ *fsm.Reader, cur []*pb.ServiceConfig) ([]*pb.ServiceConfig, error) {
		if pairs == nil {
			return nil, nil
		}
		return slices.DeleteFunc(cur, func(sc *pb.ServiceConfig) bool {
			return slices.Contains(pairs, pair{sc.GetServiceId(), sc.GetConfigId()})
		}), nil
	})
}

// changeServiceConfigs patches the identity's overrides to what change
// makes of them, reading and writing through one replicated patch.
func (s *Server) changeServiceConfigs(w http.ResponseWriter, r *http.Request, change func(*fsm.Reader, []*pb.ServiceConfig) ([]*pb.ServiceConfig, error)) error {
	id := mux.Vars(r)["id"]
	var op *pb.Op
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindIdentity, id)
		if err != nil {
			return err
		}
		next, err := change(rd, slices.Clone(rec.Body.(*pb.Identity).GetServiceConfigs()))
		if err != nil {
			return err
		}
		op, err = fsm.PatchOp(fsm.KindIdentity, id, &pb.Identity{ServiceConfigs: next}, nil, "service_configs")
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	return s.applyEmpty(w, r, op)
}

// configType is the config type id of config id.
func configType(rd *fsm.Reader, id string) (string, error) {
	rec, err := rd.Get(fsm.KindConfig, id)
	if err != nil {
		return "", err
	}
	return rec.Body.(*pb.Config).GetConfigTypeId(), nil
}
