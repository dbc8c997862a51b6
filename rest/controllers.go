package rest

import (
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func (s *Server) renderController(rec *fsm.Record, c *pb.Controller) map[string]any {
	d := baseEntity(rec, "controllers")
	addrs := map[string]any{}
	for api, list := range c.GetApiAddresses() {
		items := []map[string]string{}
		for _, a := range list.GetAddresses() {
			items = append(items, map[string]string{"url": a.GetUrl(), "version": a.GetVersion()})
		}
		addrs[api] = items
	}
	var ctrl any
	if c.GetCtrlAddress() != "" {
		ctrl = c.GetCtrlAddress()
	}
	d["name"] = c.GetName()
	d["ctrlAddress"] = ctrl
	d["apiAddresses"] = addrs
	d["certPem"] = c.GetCertPem()
	d["fingerprint"] = c.GetFingerprint()
	d["isOnline"] = s.node.Online(rec.ID)
	d["isPreferredLeader"] = c.GetIsPreferredLeader()
	d["lastJoinedAt"] = api.Time(time.Unix(0, c.GetLastJoinedAt()))
	return d
}
