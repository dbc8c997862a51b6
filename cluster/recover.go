package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// RecoverServer names one member of the configuration forced by Recover.
type RecoverServer struct {
	ID      string
	Address string
	Voter   bool
}

// Recover rewrites the stored Raft configuration of a stopped node so that
// a cluster that lost quorum can be brought back: typically the survivor is
// made a one-member cluster and the others are added again afterwards. It
// must run while the node is not running, and only on the nodes named in
// servers, all with the same list; otherwise two clusters may form.
func Recover(cfg Config, servers []RecoverServer) error {
	cfg.setDefaults()
	if cfg.AdvertiseAddress == "" {
		cfg.AdvertiseAddress = cfg.BindAddress
	}
	if len(servers) == 0 {
		servers = []RecoverServer{{ID: cfg.ID, Address: cfg.AdvertiseAddress, Voter: true}}
	}
	conf := raft.Configuration{}
	for _, s := range servers {
		suffrage := raft.Nonvoter
		if s.Voter {
			suffrage = raft.Voter
		}
		conf.Servers = append(conf.Servers, raft.Server{ID: raft.ServerID(s.ID), Address: raft.ServerAddress(stripScheme(s.Address)), Suffrage: suffrage})
	}
	rc := cfg.raftConfig()
	st, err := openStores(&cfg, rc.Logger)
	if err != nil {
		return err
	}
	defer st.bolt.Close()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.AdvertiseAddress))
	if err := raft.RecoverCluster(rc, cfg.Store, st.logs, st.bolt, st.snaps, trans, conf); err != nil {
		return fmt.Errorf("recover cluster: %w", err)
	}
	return nil
}
