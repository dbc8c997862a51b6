package rest

import (
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// listNetworkJWTs answers one network JWT, as OpenZiti does, signed afresh
// per request because the member list changes; a node without a signing
// key lists none.
func (s *Server) listNetworkJWTs(w http.ResponseWriter, r *http.Request) error {
	items := []map[string]string{}
	if s.cfg.Signer != nil {
		var token string
		err := s.store.View(func(rd *fsm.Reader) error {
			var err error
			token, err = s.minter.NetworkJWT(rd, s.cfg.AdvertiseURL, time.Now())
			return err
		})
		if err != nil {
			return fromEdge(err)
		}
		items = append(items, map[string]string{"name": trust.DefaultNetworkJWTName, "token": token})
	}
	api.WriteData(w, http.StatusOK, items, api.Meta{})
	return nil
}
