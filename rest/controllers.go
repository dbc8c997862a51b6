package rest

import (
	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// controllers declares /controllers: the members' self-descriptions, which
// each node writes about itself when it joins, so every node lists every
// member, online or not. isOnline is what this node's probes saw.
func (s *Server) controllers() *Resource {
	return &Resource{
		Kind: fsm.KindController, Path: "controllers",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Access: ReadOnly, Index: fsm.ControllerName},
			{Name: "ctrlAddress", Proto: "ctrl_address", Type: String, Access: ReadOnly, Nullable: true},
			{Name: "certPem", Proto: "cert_pem", Type: String, Access: ReadOnly},
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly},
			{Name: "isOnline", Type: Bool, Access: ReadOnly, Get: func(_ *fsm.Reader, rec *fsm.Record) any { return s.node.Online(rec.ID) }},
			{Name: "isPreferredLeader", Proto: "is_preferred_leader", Type: Bool, Access: ReadOnly, NoFilter: true},
			{Name: "lastJoinedAt", Proto: "last_joined_at", Type: DateTime, Access: ReadOnly},
		},
		Render: func(_ *fsm.Reader, rec *fsm.Record, d map[string]any) error {
			addrs := map[string]any{}
			for name, list := range rec.Body.(*pb.Controller).GetApiAddresses() {
				items := []map[string]string{}
				for _, a := range list.GetAddresses() {
					items = append(items, map[string]string{"url": a.GetUrl(), "version": a.GetVersion()})
				}
				addrs[name] = items
			}
			d["apiAddresses"] = addrs
			return nil
		},
	}
}
