package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"
)

// A policy kind (service policies, edge-router policies, service
// edge-router policies) relates the entities its role lists match. Each
// role list is a PolicySide; policyKind declares the indexes and
// references every such kind needs.

// PolicySide is one role list of a policy kind.
type PolicySide struct {
	// Field is the API field of the list ("identityRoles").
	Field string
	// Roles indexes the roles as written ("#web", "@id", "#all"): the
	// policies that can match an entity are found through its roles.
	Roles Multi
	// Target is the kind "@id" roles name ("" for none, as posture checks
	// before they exist); IDs indexes those ids, for the reference.
	Target string
	IDs    Multi
	// Get and Set read and replace the list in a policy body.
	Get func(proto.Message) []string
	Set func(proto.Message, []string)
}

func policyKind(name string, newBody func() proto.Message, nameOf func(proto.Message) string, policyName Unique, sides ...PolicySide) Kind {
	k := Kind{
		Name: name, New: newBody, Access: true,
		Indexes: []Index{policyName.Index("name", func(m proto.Message) []string { return keysOf(nameOf(m)) })},
	}
	for _, side := range sides {
		k.Indexes = append(k.Indexes, side.Roles.Index(side.Field, func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(side.Get(m))))
		}))
		if side.Target == "" {
			continue
		}
		k.Indexes = append(k.Indexes, side.IDs.Index(side.Field, func(m proto.Message) []string { return RoleIDs(side.Get(m)) }))
		// An entity named by "@id" must exist; deleting it removes it from
		// every policy naming it, and the policy stays.
		k.Refs = append(k.Refs, Ref{Index: side.IDs, Field: side.Field, Target: side.Target, OnDelete: Drop,
			Drop: func(m proto.Message, id string) { side.Set(m, dropRole(side.Get(m), "@"+id)) }})
	}
	return k
}
