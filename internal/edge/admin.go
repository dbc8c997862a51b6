package edge

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// DefaultAdminOps builds the default admin: an identity (isAdmin,
// isDefaultAdmin) and its password authenticator with the hash of its
// password, to be created in one command so that neither exists without
// the other.
func DefaultAdminOps(name, username, hash string) ([]*pb.Op, error) {
	identityID, authID := uuid.NewString(), uuid.NewString()
	createIdentity, err := fsm.CreateOp(fsm.KindIdentity, identityID, &pb.Identity{
		Name: name, TypeId: "User", IsAdmin: true, IsDefaultAdmin: true,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("default admin: %w", err)
	}
	createAuth, err := fsm.CreateOp(fsm.KindAuthenticator, authID, &pb.Authenticator{
		IdentityId: identityID, Method: "updb", Username: username, PasswordHash: hash,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("default admin authenticator: %w", err)
	}
	// The auth policy every identity uses unless given another comes with
	// the cluster's first identity.
	createPolicy, err := fsm.CreateOp(fsm.KindAuthPolicy, fsm.DefaultAuthPolicyID, fsm.DefaultAuthPolicy(), nil)
	if err != nil {
		return nil, fmt.Errorf("default auth policy: %w", err)
	}
	// So are the global controller settings, empty.
	createSettings, err := fsm.CreateOp(fsm.KindControllerSetting, fsm.GlobalSettingID, &pb.ControllerSetting{}, nil)
	if err != nil {
		return nil, fmt.Errorf("global controller settings: %w", err)
	}
	return []*pb.Op{createPolicy, createSettings, createIdentity, createAuth}, nil
}

// HasDefaultAdmin reports whether the default admin exists.
func HasDefaultAdmin(store *fsm.Store) bool {
	found := false
	_ = store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindIdentity, func(rec *fsm.Record) error {
			if id, _ := fsm.As[*pb.Identity](rec); id.GetIsDefaultAdmin() {
				found = true
			}
			return nil
		})
	})
	return found
}
