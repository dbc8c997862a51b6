package rest

import (
	"net/http"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// The route table: every endpoint of every API this node serves, in one
// place. To find the code of an endpoint, find its path here; the handler
// column names the function (resource handlers take the resource declared
// in the file of that name: s.res.configTypes is in configtypes.go).
// TestRouteTable checks it against the vendored API definitions.

// apiSet is the APIs that serve a route, under their base paths.
type apiSet uint8

const (
	clientAPI apiSet = 1 << iota // /edge/client/v1
	mgmtAPI                      // /edge/management/v1
	fabricAPI                    // /fabric/v1
	edgeAPIs  = clientAPI | mgmtAPI
)

// access is who may call a route.
type access uint8

const (
	// static routes read nothing replicated (the version): they answer
	// without a read barrier, so they answer even without a leader.
	static access = iota
	// public routes check what they need themselves: logins, enrollment
	// tokens, client certificates, or nothing (trust material).
	public
	// session routes need a live API session.
	session
	// admin routes need an admin's API session.
	admin
	// partial routes take any live API session, also one still owing a
	// second factor (OpenZiti's partial_auth): the session itself.
	partial
	// mfaStep routes take a session still owing its MFA code, but not one
	// owing its secondary external JWT: enrolling and giving the code.
	// (Someone holding only the password must not bind their own TOTP to
	// the identity.)
	mfaStep
)

type route struct {
	method string
	apis   apiSet
	path   string
	access access
	handle http.HandlerFunc
}

const (
	get   = http.MethodGet
	post  = http.MethodPost
	put   = http.MethodPut
	patch = http.MethodPatch
	del   = http.MethodDelete
)

func (s *Server) routes() []route {
	r, h := &s.res, &s.rs
	// The policy kinds and their role lists, for the relation sub-lists.
	sp, erp, serp := edge.ServicePolicyKind, edge.RouterPolicyKind, edge.ServiceRouterKind
	spSides, erpSides, serpSides := fsm.ServicePolicySides, fsm.EdgeRouterPolicySides, fsm.ServiceEdgeRouterPolicySides
	table := []route{
		// version.go, sessions.go, certauth.go: no session needed to start one
		{get, edgeAPIs, "", static, s.version},
		{get, edgeAPIs, "/", static, s.version},
		{get, edgeAPIs, "/version", static, s.version},
		// apispecs.go: what the node serves, no session needed
		{get, edgeAPIs, "/specs", static, api.Handle(s.listSpecs)},
		{get, edgeAPIs, "/specs/{id}", static, api.Handle(s.detailSpec)},
		{get, edgeAPIs, "/specs/{id}/spec", static, api.Handle(s.detailSpecBody)},
		{get, edgeAPIs, "/enumerated-capabilities", static, api.Handle(s.listEnumeratedCapabilities)},
		{get, clientAPI, "/protocols", static, api.Handle(s.listProtocols)},
		{post, edgeAPIs, "/authenticate", public, api.Handle(s.authenticate)},
		{get, edgeAPIs, "/current-api-session", partial, api.Handle(s.currentAPISession)},
		{del, edgeAPIs, "/current-api-session", partial, api.Handle(s.logout)},

		// mfa.go
		{post, edgeAPIs, "/authenticate/mfa", mfaStep, api.Handle(s.authenticateMfa)},
		{get, edgeAPIs, "/current-identity/mfa", mfaStep, api.Handle(s.currentMfa)},
		{post, edgeAPIs, "/current-identity/mfa", mfaStep, api.Handle(s.enrollMfa)},
		{del, edgeAPIs, "/current-identity/mfa", session, api.Handle(s.deleteMfa)},
		{post, edgeAPIs, "/current-identity/mfa/verify", mfaStep, api.Handle(s.verifyMfa)},
		{get, edgeAPIs, "/current-identity/mfa/qr-code", mfaStep, api.Handle(s.mfaQRCode)},
		{get, edgeAPIs, "/current-identity/mfa/recovery-codes", session, api.Handle(s.mfaRecoveryCodes)},
		{post, edgeAPIs, "/current-identity/mfa/recovery-codes", session, api.Handle(s.newMfaRecoveryCodes)},
		{del, mgmtAPI, "/identities/{id}/mfa", admin, api.Handle(s.deleteIdentityMfa)},
		{post, edgeAPIs, "/current-api-session/totp-token", session, api.Handle(s.totpToken)},

		{get, edgeAPIs, "/current-identity", session, api.Handle(s.currentIdentity)},
		// What an identity may reach: empty until services and policies
		// exist (the SDKs list them right after logging in).
		{get, clientAPI, "/services", session, api.Handle(s.clientServices)},
		{get, clientAPI, "/services/{id}", session, api.Handle(s.clientService)},
		{get, clientAPI, "/services/{id}/edge-routers", session, api.Handle(s.clientServiceRouters)},
		// The client API's definition also has a service's PUT, PATCH and
		// DELETE: the management API's, for admins only (services.go).
		{put, clientAPI, "/services/{id}", admin, h.Update(r.services)},
		{patch, clientAPI, "/services/{id}", admin, h.Patch(r.services)},
		{del, clientAPI, "/services/{id}", admin, h.Delete(r.services)},
		{get, clientAPI, "/services/{id}/terminators", session, api.Handle(s.clientServiceTerminators)}, // terminators.go
		{post, clientAPI, "/posture-response", session, api.Handle(s.postureResponse)},
		{post, clientAPI, "/posture-response-bulk", session, api.Handle(s.postureResponseBulk)},

		// netsessions.go: network sessions
		{get, clientAPI, "/sessions", session, h.List(r.ownSessions)},
		{post, clientAPI, "/sessions", session, api.Handle(s.createSession)},
		{get, clientAPI, "/sessions/{id}", session, h.Detail(r.ownSessions)},
		{del, clientAPI, "/sessions/{id}", session, h.Delete(r.ownSessions)},
		{get, mgmtAPI, "/sessions", admin, h.List(r.netSessions)},
		{get, mgmtAPI, "/sessions/{id}", admin, h.Detail(r.netSessions)},
		{del, mgmtAPI, "/sessions/{id}", admin, h.Delete(r.netSessions)},
		{get, mgmtAPI, "/sessions/{id}/route-path", admin, api.Handle(s.sessionRoutePath)}, // netsessions.go
		{get, clientAPI, "/current-identity/edge-routers", session, api.Handle(s.clientIdentityRouters)},
		{get, clientAPI, "/current-api-session/service-updates", session, api.Handle(s.serviceUpdates)},

		// trust.go, networkjwt.go, challenge.go: what a client checks before it trusts the network
		{get, edgeAPIs, "/.well-known/est/cacerts", public, api.Handle(s.wellKnownCACerts)},
		{get, edgeAPIs, "/network-jwts", public, api.Handle(s.listNetworkJWTs)},
		{get, clientAPI, "/enroll/jwks", public, api.Handle(s.enrollJWKS)},
		{post, clientAPI, "/enroll/challenge", public, api.Handle(s.enrollChallenge)},

		// enroll.go, enroll_ca.go, enroll_router.go: consuming enrollments
		{post, clientAPI, "/enroll", public, api.Handle(s.enrollGeneric)},
		{post, clientAPI, "/enroll/ott", public, api.Handle(s.enrollOTT)},
		{post, clientAPI, "/enroll/ottca", public, api.Handle(s.enrollOTTCA)},
		{post, clientAPI, "/enroll/updb", public, api.Handle(s.enrollUPDB)},
		{post, clientAPI, "/enroll/ca", public, api.Handle(s.enrollCA)},
		{post, clientAPI, "/enroll/erott", public, api.Handle(s.enrollEdgeRouter)},
		{post, clientAPI, "/enroll/extend/router", public, api.Handle(s.extendRouterEnrollment)},

		// identities.go
		{get, mgmtAPI, "/identities", admin, h.List(r.identities)},
		{post, mgmtAPI, "/identities", admin, h.Create(r.identities)},
		{get, mgmtAPI, "/identities/{id}", admin, h.Detail(r.identities)},
		{put, mgmtAPI, "/identities/{id}", admin, h.Update(r.identities)},
		{patch, mgmtAPI, "/identities/{id}", admin, h.Patch(r.identities)},
		{del, mgmtAPI, "/identities/{id}", admin, h.Delete(r.identities)},
		{post, mgmtAPI, "/identities/{id}/disable", admin, api.Handle(s.disableIdentity)},
		{post, mgmtAPI, "/identities/{id}/enable", admin, api.Handle(s.enableIdentity)},
		{get, mgmtAPI, "/identities/{id}/authenticators", admin, h.SubList(r.identities, r.authenticators, fsm.AuthenticatorIdentity)},
		{get, mgmtAPI, "/identities/{id}/enrollments", admin, h.SubList(r.identities, r.enrollments, fsm.EnrollmentIdentity)},
		{get, mgmtAPI, "/identity-role-attributes", admin, h.IndexKeys(fsm.IdentityRoleAttributes)},
		{get, mgmtAPI, "/identities/{id}/service-configs", admin, api.Handle(s.listServiceConfigs)},
		{post, mgmtAPI, "/identities/{id}/service-configs", admin, api.Handle(s.assignServiceConfigs)},
		{del, mgmtAPI, "/identities/{id}/service-configs", admin, api.Handle(s.removeServiceConfigs)},
		{get, mgmtAPI, "/identities/{id}/policy-advice/{serviceId}", admin, api.Handle(s.policyAdvice)},                // servicepolicies.go
		{get, mgmtAPI, "/identities/{id}/posture-data", admin, api.Handle(s.identityPostureData)},                      // posturedata.go
		{get, mgmtAPI, "/identities/{id}/failed-service-requests", admin, api.Handle(s.identityFailedServiceRequests)}, // posturedata.go
		{get, mgmtAPI, "/identity-types", admin, api.Handle(s.listIdentityTypes)},
		{get, mgmtAPI, "/identity-types/{id}", admin, api.Handle(s.getIdentityType)},

		// authenticators.go, extend.go
		{get, mgmtAPI, "/authenticators", admin, h.List(r.authenticators)},
		{post, mgmtAPI, "/authenticators", admin, h.Create(r.authenticators)},
		{get, mgmtAPI, "/authenticators/{id}", admin, h.Detail(r.authenticators)},
		{put, mgmtAPI, "/authenticators/{id}", admin, h.Update(r.authenticators)},
		{patch, mgmtAPI, "/authenticators/{id}", admin, h.Patch(r.authenticators)},
		{del, mgmtAPI, "/authenticators/{id}", admin, h.Delete(r.authenticators)},
		{post, mgmtAPI, "/authenticators/{id}/re-enroll", admin, api.Handle(s.reEnrollAuthenticator)},
		{get, edgeAPIs, "/current-identity/authenticators", session, h.List(r.ownAuthenticators)},
		{get, edgeAPIs, "/current-identity/authenticators/{id}", session, h.Detail(r.ownAuthenticators)},
		{put, edgeAPIs, "/current-identity/authenticators/{id}", session, s.countCurrentPassword(h.Update(r.ownAuthenticators))},
		{patch, edgeAPIs, "/current-identity/authenticators/{id}", session, s.countCurrentPassword(h.Patch(r.ownAuthenticators))},
		{post, edgeAPIs, "/current-identity/authenticators/{id}/extend", session, api.Handle(s.extendAuthenticator)},
		{post, edgeAPIs, "/current-identity/authenticators/{id}/extend-verify", session, api.Handle(s.verifyExtendAuthenticator)},

		// enrollments.go
		{get, mgmtAPI, "/enrollments", admin, h.List(r.enrollments)},
		{post, mgmtAPI, "/enrollments", admin, h.Create(r.enrollments)},
		{get, mgmtAPI, "/enrollments/{id}", admin, h.Detail(r.enrollments)},
		{del, mgmtAPI, "/enrollments/{id}", admin, h.Delete(r.enrollments)},
		{post, mgmtAPI, "/enrollments/{id}/refresh", admin, api.Handle(s.refreshEnrollment)},

		// apisessions.go, sessioncerts.go
		{get, mgmtAPI, "/api-sessions", admin, h.List(r.apiSessions)},
		{get, mgmtAPI, "/api-sessions/{id}", admin, h.Detail(r.apiSessions)},
		{del, mgmtAPI, "/api-sessions/{id}", admin, h.Delete(r.apiSessions)},
		{get, clientAPI, "/current-api-session/certificates", session, h.List(r.sessionCerts)},
		{post, clientAPI, "/current-api-session/certificates", session, api.Handle(s.createSessionCert)},
		{get, clientAPI, "/current-api-session/certificates/{id}", session, h.Detail(r.sessionCerts)},
		{del, clientAPI, "/current-api-session/certificates/{id}", session, h.Delete(r.sessionCerts)},
		{get, mgmtAPI, "/summary", admin, api.Handle(s.summary)},

		// cas.go
		{get, mgmtAPI, "/cas", admin, h.List(r.cas)},
		{post, mgmtAPI, "/cas", admin, h.Create(r.cas)},
		{get, mgmtAPI, "/cas/{id}", admin, h.Detail(r.cas)},
		{put, mgmtAPI, "/cas/{id}", admin, h.Update(r.cas)},
		{patch, mgmtAPI, "/cas/{id}", admin, h.Patch(r.cas)},
		{del, mgmtAPI, "/cas/{id}", admin, h.Delete(r.cas)},
		{post, mgmtAPI, "/cas/{id}/verify", admin, api.Handle(s.verifyCA)},
		{get, mgmtAPI, "/cas/{id}/jwt", admin, api.Handle(s.caJWT)},

		// edgerouters.go
		{get, mgmtAPI, "/edge-routers", admin, h.List(r.edgeRouters)},
		{post, mgmtAPI, "/edge-routers", admin, h.Create(r.edgeRouters)},
		{get, mgmtAPI, "/edge-routers/{id}", admin, h.Detail(r.edgeRouters)},
		{put, mgmtAPI, "/edge-routers/{id}", admin, h.Update(r.edgeRouters)},
		{patch, mgmtAPI, "/edge-routers/{id}", admin, h.Patch(r.edgeRouters)},
		{del, mgmtAPI, "/edge-routers/{id}", admin, h.Delete(r.edgeRouters)},
		{post, mgmtAPI, "/edge-routers/{id}/re-enroll", admin, api.Handle(s.reEnrollEdgeRouter)},

		// configtypes.go, configs.go
		{get, mgmtAPI, "/config-types", admin, h.List(r.configTypes)},
		{post, mgmtAPI, "/config-types", admin, h.Create(r.configTypes)},
		{get, mgmtAPI, "/config-types/{id}", admin, h.Detail(r.configTypes)},
		{put, mgmtAPI, "/config-types/{id}", admin, h.Update(r.configTypes)},
		{patch, mgmtAPI, "/config-types/{id}", admin, h.Patch(r.configTypes)},
		{del, mgmtAPI, "/config-types/{id}", admin, h.Delete(r.configTypes)},
		{get, mgmtAPI, "/config-types/{id}/configs", admin, h.SubList(r.configTypes, r.configs, fsm.ConfigType)},
		{get, mgmtAPI, "/configs", admin, h.List(r.configs)},
		{post, mgmtAPI, "/configs", admin, h.Create(r.configs)},
		{get, mgmtAPI, "/configs/{id}", admin, h.Detail(r.configs)},
		{put, mgmtAPI, "/configs/{id}", admin, h.Update(r.configs)},
		{patch, mgmtAPI, "/configs/{id}", admin, h.Patch(r.configs)},
		{del, mgmtAPI, "/configs/{id}", admin, h.Delete(r.configs)},
		{get, mgmtAPI, "/configs/{id}/services", admin, h.SubList(r.configs, r.services, fsm.ServiceConfigs)},

		// services.go; the lists of what Garrison does not have yet are empty
		{get, mgmtAPI, "/services", admin, h.List(r.services)},
		{post, mgmtAPI, "/services", admin, h.Create(r.services)},
		{get, mgmtAPI, "/services/{id}", admin, h.Detail(r.services)},
		{put, mgmtAPI, "/services/{id}", admin, h.Update(r.services)},
		{patch, mgmtAPI, "/services/{id}", admin, h.Patch(r.services)},
		{del, mgmtAPI, "/services/{id}", admin, h.Delete(r.services)},
		{get, mgmtAPI, "/services/{id}/configs", admin, h.Named(r.services, r.configs, "configs")},
		{get, mgmtAPI, "/services/{id}/edge-routers", admin, h.Related(r.services, r.edgeRouters, reached(serp, serpSides.Services, edge.Services, serpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/services/{id}/identities", admin, h.Related(r.services, r.identities, reached(sp, spSides.Services, edge.Services, spSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/services/{id}/service-policies", admin, h.Related(r.services, r.servicePolicies, matching(sp, spSides.Services, edge.Services))},
		{get, mgmtAPI, "/services/{id}/service-edge-router-policies", admin, h.Related(r.services, r.serviceEdgeRouterPolicies, matching(serp, serpSides.Services, edge.Services))},
		{get, mgmtAPI, "/services/{id}/terminators", admin, h.SubList(r.services, r.terminators, fsm.TerminatorService)},
		{get, mgmtAPI, "/service-role-attributes", admin, h.IndexKeys(fsm.ServiceRoleAttributes)},

		// authpolicies.go
		{get, mgmtAPI, "/auth-policies", admin, h.List(r.authPolicies)},
		{post, mgmtAPI, "/auth-policies", admin, h.Create(r.authPolicies)},
		{get, mgmtAPI, "/auth-policies/{id}", admin, h.Detail(r.authPolicies)},
		{put, mgmtAPI, "/auth-policies/{id}", admin, h.Update(r.authPolicies)},
		{patch, mgmtAPI, "/auth-policies/{id}", admin, h.Patch(r.authPolicies)},
		{del, mgmtAPI, "/auth-policies/{id}", admin, h.Delete(r.authPolicies)},

		// extjwtsigners.go
		{get, mgmtAPI, "/external-jwt-signers", admin, h.List(r.extJwtSigners)},
		{post, mgmtAPI, "/external-jwt-signers", admin, h.Create(r.extJwtSigners)},
		{get, mgmtAPI, "/external-jwt-signers/{id}", admin, h.Detail(r.extJwtSigners)},
		{put, mgmtAPI, "/external-jwt-signers/{id}", admin, h.Update(r.extJwtSigners)},
		{patch, mgmtAPI, "/external-jwt-signers/{id}", admin, h.Patch(r.extJwtSigners)},
		{del, mgmtAPI, "/external-jwt-signers/{id}", admin, h.Delete(r.extJwtSigners)},
		{get, clientAPI, "/external-jwt-signers", public, h.List(r.clientExtJwtSigners)},
		{post, clientAPI, "/enroll/token", public, api.Handle(s.enrollToken)}, // enrolltoken.go

		// terminators.go
		{get, mgmtAPI, "/terminators", admin, h.List(r.terminators)},
		{post, mgmtAPI, "/terminators", admin, h.Create(r.terminators)},
		{get, mgmtAPI, "/terminators/{id}", admin, h.Detail(r.terminators)},
		{put, mgmtAPI, "/terminators/{id}", admin, h.Update(r.terminators)},
		{patch, mgmtAPI, "/terminators/{id}", admin, h.Patch(r.terminators)},
		{del, mgmtAPI, "/terminators/{id}", admin, h.Delete(r.terminators)},

		// servicepolicies.go
		{get, mgmtAPI, "/service-policies", admin, h.List(r.servicePolicies)},
		{post, mgmtAPI, "/service-policies", admin, h.Create(r.servicePolicies)},
		{get, mgmtAPI, "/service-policies/{id}", admin, h.Detail(r.servicePolicies)},
		{put, mgmtAPI, "/service-policies/{id}", admin, h.Update(r.servicePolicies)},
		{patch, mgmtAPI, "/service-policies/{id}", admin, h.Patch(r.servicePolicies)},
		{del, mgmtAPI, "/service-policies/{id}", admin, h.Delete(r.servicePolicies)},
		{get, mgmtAPI, "/service-policies/{id}/identities", admin, h.Related(r.servicePolicies, r.identities, matched(sp, spSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/service-policies/{id}/services", admin, h.Related(r.servicePolicies, r.services, matched(sp, spSides.Services, edge.Services))},
		{get, mgmtAPI, "/service-policies/{id}/posture-checks", admin, h.Related(r.servicePolicies, r.postureChecks, matched(sp, spSides.PostureChecks, edge.PostureChecks))},

		// posturechecks.go
		{get, mgmtAPI, "/posture-checks", admin, h.List(r.postureChecks)},
		{post, mgmtAPI, "/posture-checks", admin, h.Create(r.postureChecks)},
		{get, mgmtAPI, "/posture-checks/{id}", admin, h.Detail(r.postureChecks)},
		{put, mgmtAPI, "/posture-checks/{id}", admin, h.Update(r.postureChecks)},
		{patch, mgmtAPI, "/posture-checks/{id}", admin, h.Patch(r.postureChecks)},
		{del, mgmtAPI, "/posture-checks/{id}", admin, h.Delete(r.postureChecks)},
		{get, mgmtAPI, "/posture-check-types", admin, api.Handle(s.postureCheckTypes)},
		{get, mgmtAPI, "/posture-check-types/{id}", admin, api.Handle(s.postureCheckTypes)},
		{get, mgmtAPI, "/posture-check-role-attributes", admin, h.IndexKeys(fsm.PostureCheckRoleAttributes)},
		{get, mgmtAPI, "/identities/{id}/service-policies", admin, h.Related(r.identities, r.servicePolicies, matching(sp, spSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/identities/{id}/services", admin, h.Related(r.identities, r.services, reached(sp, spSides.Identities, edge.Identities, spSides.Services, edge.Services))},

		// servicepolicies.go: edge-router and service edge-router policies
		{get, mgmtAPI, "/edge-router-policies", admin, h.List(r.edgeRouterPolicies)},
		{post, mgmtAPI, "/edge-router-policies", admin, h.Create(r.edgeRouterPolicies)},
		{get, mgmtAPI, "/edge-router-policies/{id}", admin, h.Detail(r.edgeRouterPolicies)},
		{put, mgmtAPI, "/edge-router-policies/{id}", admin, h.Update(r.edgeRouterPolicies)},
		{patch, mgmtAPI, "/edge-router-policies/{id}", admin, h.Patch(r.edgeRouterPolicies)},
		{del, mgmtAPI, "/edge-router-policies/{id}", admin, h.Delete(r.edgeRouterPolicies)},
		{get, mgmtAPI, "/edge-router-policies/{id}/identities", admin, h.Related(r.edgeRouterPolicies, r.identities, matched(erp, erpSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/edge-router-policies/{id}/edge-routers", admin, h.Related(r.edgeRouterPolicies, r.edgeRouters, matched(erp, erpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/service-edge-router-policies", admin, h.List(r.serviceEdgeRouterPolicies)},
		{post, mgmtAPI, "/service-edge-router-policies", admin, h.Create(r.serviceEdgeRouterPolicies)},
		{get, mgmtAPI, "/service-edge-router-policies/{id}", admin, h.Detail(r.serviceEdgeRouterPolicies)},
		{put, mgmtAPI, "/service-edge-router-policies/{id}", admin, h.Update(r.serviceEdgeRouterPolicies)},
		{patch, mgmtAPI, "/service-edge-router-policies/{id}", admin, h.Patch(r.serviceEdgeRouterPolicies)},
		{del, mgmtAPI, "/service-edge-router-policies/{id}", admin, h.Delete(r.serviceEdgeRouterPolicies)},
		{get, mgmtAPI, "/service-edge-router-policies/{id}/services", admin, h.Related(r.serviceEdgeRouterPolicies, r.services, matched(serp, serpSides.Services, edge.Services))},
		{get, mgmtAPI, "/service-edge-router-policies/{id}/edge-routers", admin, h.Related(r.serviceEdgeRouterPolicies, r.edgeRouters, matched(serp, serpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/identities/{id}/edge-router-policies", admin, h.Related(r.identities, r.edgeRouterPolicies, matching(erp, erpSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/identities/{id}/edge-routers", admin, h.Related(r.identities, r.edgeRouters, reached(erp, erpSides.Identities, edge.Identities, erpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/edge-routers/{id}/edge-router-policies", admin, h.Related(r.edgeRouters, r.edgeRouterPolicies, matching(erp, erpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/edge-routers/{id}/identities", admin, h.Related(r.edgeRouters, r.identities, reached(erp, erpSides.EdgeRouters, edge.EdgeRouters, erpSides.Identities, edge.Identities))},
		{get, mgmtAPI, "/edge-routers/{id}/service-edge-router-policies", admin, h.Related(r.edgeRouters, r.serviceEdgeRouterPolicies, matching(serp, serpSides.EdgeRouters, edge.EdgeRouters))},
		{get, mgmtAPI, "/edge-routers/{id}/services", admin, h.Related(r.edgeRouters, r.services, reached(serp, serpSides.EdgeRouters, edge.EdgeRouters, serpSides.Services, edge.Services))},
		{get, mgmtAPI, "/edge-router-role-attributes", admin, h.IndexKeys(fsm.EdgeRouterRoleAttributes)},

		// controllers.go, fabric_cluster.go: the cluster
		{get, edgeAPIs, "/controllers", session, h.List(r.controllers)},
		// database.go
		{post, mgmtAPI, "/database/snapshot", admin, api.Handle(s.createSnapshot)},
		{post, fabricAPI, "/database", admin, api.Handle(s.createSnapshot)},
		{post, fabricAPI, "/database/snapshot", admin, api.Handle(s.createSnapshotWithPath)},
		{post, mgmtAPI | fabricAPI, "/database/check-data-integrity", admin, api.Handle(s.startIntegrityCheck(false))},
		{post, mgmtAPI | fabricAPI, "/database/fix-data-integrity", admin, api.Handle(s.startIntegrityCheck(true))},
		{get, mgmtAPI | fabricAPI, "/database/data-integrity-results", admin, api.Handle(s.integrityResults)},
		{get, fabricAPI, "/cluster/list-members", admin, api.Handle(s.listMembers)},
		{post, fabricAPI, "/cluster/add-member", admin, api.Handle(s.addMember)},
		{post, fabricAPI, "/cluster/remove-member", admin, api.Handle(s.removeMember)},
		{post, fabricAPI, "/cluster/transfer-leadership", admin, api.Handle(s.transferLeadership)},

		// revocations.go
		{get, mgmtAPI, "/revocations", admin, h.List(r.revocations)},
		{post, mgmtAPI, "/revocations", admin, h.Create(r.revocations)},
		{get, mgmtAPI, "/revocations/{id}", admin, h.Detail(r.revocations)},

		// controllersettings.go
		{get, mgmtAPI, "/controller-settings", admin, h.List(r.controllerSettings)},
		{post, mgmtAPI, "/controller-settings", admin, h.Create(r.controllerSettings)},
		{get, mgmtAPI, "/controller-settings/{id}", admin, h.Detail(r.controllerSettings)},
		{get, mgmtAPI, "/controller-settings/{id}/effective", admin, api.Handle(s.effectiveSetting)},
		{put, mgmtAPI, "/controller-settings/{id}/effective", admin, h.Update(r.controllerSettings)},
		{patch, mgmtAPI, "/controller-settings/{id}/effective", admin, h.Patch(r.controllerSettings)},
		{del, mgmtAPI, "/controller-settings/{id}/effective", admin, h.Delete(r.controllerSettings)},

		// trace.go, extend.go
		{put, mgmtAPI, "/identities/{id}/trace", admin, api.Handle(s.traceIdentity)},
		{post, mgmtAPI, "/authenticators/{id}/request-extend", admin, api.Handle(s.requestExtend)},

		// dataplane.go: what only a data plane has
		{get, fabricAPI, "/links", admin, h.Empty(nil)},
		{get, fabricAPI, "/links/{id}", admin, api.Handle(absentEntity)},
		{patch, fabricAPI, "/links/{id}", admin, api.Handle(absentEntity)},
		{del, fabricAPI, "/links/{id}", admin, api.Handle(absentDeleted)},
		{get, fabricAPI, "/circuits", admin, h.Empty(nil)},
		{get, fabricAPI, "/circuits/{id}", admin, api.Handle(absentEntity)},
		{del, fabricAPI, "/circuits/{id}", admin, api.Handle(absentDeleted)},
		{post, fabricAPI, "/inspections", admin, api.Handle(s.inspect)},

		// routers.go, services.go, terminators.go: the fabric's views
		{get, fabricAPI, "/routers/{id}/terminators", admin, h.SubList(r.fabricRouters, r.fabricTerminators, fsm.TerminatorRouter)},
		{get, fabricAPI, "/services/{id}/terminators", admin, h.SubList(r.fabricServices, r.fabricTerminators, fsm.TerminatorService)},
	}
	// Resources served whole: list, create, detail, PUT, PATCH, delete.
	for _, c := range []struct {
		apis apiSet
		path string
		res  *resource.Resource
	}{
		{mgmtAPI, "/transit-routers", r.transitRouters}, // routers.go
		{mgmtAPI, "/routers", r.mgmtRouters},
		{fabricAPI, "/routers", r.fabricRouters},
		{fabricAPI, "/services", r.fabricServices},       // services.go
		{fabricAPI, "/terminators", r.fabricTerminators}, // terminators.go
	} {
		table = append(table,
			route{get, c.apis, c.path, admin, h.List(c.res)},
			route{post, c.apis, c.path, admin, h.Create(c.res)},
			route{get, c.apis, c.path + "/{id}", admin, h.Detail(c.res)},
			route{put, c.apis, c.path + "/{id}", admin, h.Update(c.res)},
			route{patch, c.apis, c.path + "/{id}", admin, h.Patch(c.res)},
			route{del, c.apis, c.path + "/{id}", admin, h.Delete(c.res)})
	}
	return table
}
