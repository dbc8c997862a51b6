package rest

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Controller settings are replicated like every entity: "global" holds
// what every member uses, and a setting with a member's id overrides it
// for that member. The spec's only settings are the OAuth clients'
// callback and post-logout URIs (beside the built-in loopback and
// openziti:// ones). A list an instance sets replaces the global list; an
// empty one leaves the global one in force. The global setting is made
// with the default admin; on a cluster initialised before settings
// existed it is created like any other.

// maxSettingURIs bounds each list of URIs.
const maxSettingURIs = 100

// controllerSettings declares /controller-settings. Its instance is
// changed and deleted under /controller-settings/{id}/effective, as the
// spec has it.
func (s *Server) controllerSettings() *Resource {
	return &Resource{
		Kind: fsm.KindControllerSetting, Path: "controller-settings",
		Fields: []Field{
			// The member the settings are for, or "global": the id.
			{Name: "controllerId", Type: String, Required: OnCreate, Access: CreateOnly, NotNull: true, NoFilter: true},
			{Name: "oidc", Proto: "oidc", Type: Nested, Fields: []Field{
				{Name: "redirectUris", Proto: "redirect_uris", Type: Strings, NoFilter: true},
				{Name: "postLogoutUris", Proto: "post_logout_uris", Type: Strings, NoFilter: true},
			}},
		},
		Check:   checkControllerSetting,
		IDField: "controllerId",
		BeforeDelete: func(_ *fsm.Reader, rec *fsm.Record) ([]*pb.Op, error) {
			if rec.ID == fsm.GlobalSettingID {
				return nil, api.Conflict("the global controller settings cannot be deleted; change them instead")
			}
			return nil, nil
		},
		// deleteControllerSetting documents no 404.
		AbsentDeleted: true,
	}
}

// checkControllerSetting takes a new setting's id from controllerId, which
// must be "global" or a member, and checks the URIs.
func checkControllerSetting(w *Write) error {
	if w.Mode == Create {
		id, _, aerr := w.In.String("controllerId") // required by its declaration
		if aerr != nil {
			return aerr
		}
		if id != fsm.GlobalSettingID {
			if _, err := w.Reader.Get(fsm.KindController, id); errors.Is(err, fsm.ErrNotFound) {
				return api.Invalid("controllerId", `must be "global" or a controller's id`, id)
			} else if err != nil {
				return err
			}
		}
		if _, err := w.Reader.Get(fsm.KindControllerSetting, id); err == nil {
			return api.Invalid("controllerId", "has settings already; change them under /controller-settings/"+id+"/effective", id)
		}
		w.ID = id
	}
	o := w.Body.(*pb.ControllerSetting).GetOidc()
	for name, uris := range map[string][]string{"oidc.redirectUris": o.GetRedirectUris(), "oidc.postLogoutUris": o.GetPostLogoutUris()} {
		if len(uris) > maxSettingURIs {
			return api.Invalid(name, "may hold at most 100 URIs", nil)
		}
		for _, raw := range uris {
			if why := badCallback(raw); why != "" {
				return api.Invalid(name, why, raw)
			}
		}
	}
	return nil
}

// badCallback says why uri cannot be an OAuth client's callback, or "".
// As for native apps (RFC 8252 §7): https, http to a loopback host only,
// or a private-use scheme in reverse-DNS form (com.example.app:/cb) or
// openziti; never userinfo or a fragment, so no setting can make the
// authorization server redirect to script, data or a plaintext host.
func badCallback(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return "must hold absolute URIs"
	}
	if u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return "must hold URIs without user information or a fragment"
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		if u.Host == "" {
			return "must hold https URIs with a host"
		}
	case scheme == "http":
		if _, loopback := op.HTTPLoopbackOrLocalhost(raw); !loopback {
			return "may hold http URIs to a loopback host only (use https)"
		}
	case scheme == "openziti", strings.Contains(scheme, "."):
	default:
		return "must hold https URIs, http to a loopback host, or a private-use scheme such as com.example.app"
	}
	return ""
}

// effectiveSettings merges a member's settings over the global ones.
func effectiveSettings(rd *fsm.Reader, memberID string) (global, instance, effective *pb.ControllerSetting, err error) {
	get := func(id string) (*pb.ControllerSetting, error) {
		rec, err := rd.Get(fsm.KindControllerSetting, id)
		if errors.Is(err, fsm.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return rec.Body.(*pb.ControllerSetting), nil
	}
	if global, err = get(fsm.GlobalSettingID); err != nil {
		return nil, nil, nil, err
	}
	if memberID != fsm.GlobalSettingID {
		if instance, err = get(memberID); err != nil {
			return nil, nil, nil, err
		}
	}
	eff := &pb.OidcSettings{RedirectUris: global.GetOidc().GetRedirectUris(), PostLogoutUris: global.GetOidc().GetPostLogoutUris()}
	if uris := instance.GetOidc().GetRedirectUris(); len(uris) > 0 {
		eff.RedirectUris = uris
	}
	if uris := instance.GetOidc().GetPostLogoutUris(); len(uris) > 0 {
		eff.PostLogoutUris = uris
	}
	return global, instance, &pb.ControllerSetting{Oidc: eff}, nil
}

// renderSettings is the spec's controllerSettings.
func renderSettings(cs *pb.ControllerSetting) map[string]any {
	nonNil := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return map[string]any{"oidc": map[string]any{
		"redirectUris": nonNil(cs.GetOidc().GetRedirectUris()), "postLogoutUris": nonNil(cs.GetOidc().GetPostLogoutUris())}}
}

// effectiveSetting answers GET /controller-settings/{id}/effective: the
// settings a member (or "global") works with, and its own.
func (s *Server) effectiveSetting(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	var d map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		// The entity shown is the member's setting, or the member when it
		// has none; "global" must exist.
		base, err := rd.Get(fsm.KindControllerSetting, id)
		if errors.Is(err, fsm.ErrNotFound) && id != fsm.GlobalSettingID {
			base, err = rd.Get(fsm.KindController, id)
		}
		if err != nil {
			return err
		}
		_, instance, effective, err := effectiveSettings(rd, id)
		if err != nil {
			return err
		}
		if id == fsm.GlobalSettingID {
			instance = effective
		}
		d = BaseEntity(base, "controller-settings")
		d["instance"] = renderSettings(instance)
		d["effective"] = renderSettings(effective)
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

// memberSettings are the OAuth settings this node works with, read now;
// nil (the built-in callbacks only) if they cannot be read.
func (s *Server) memberSettings() *pb.OidcSettings {
	var eff *pb.ControllerSetting
	_ = s.store.View(func(rd *fsm.Reader) error {
		var err error
		_, _, eff, err = effectiveSettings(rd, s.node.ID())
		return err
	})
	return eff.GetOidc()
}
