package edge

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// PostureQuery is one posture check of a policy, evaluated for a session.
type PostureQuery struct {
	Check     *fsm.Record
	IsPassing bool
}

// PolicyPosture is a service policy's posture checks for one session.
type PolicyPosture struct {
	Policy    *fsm.Record
	IsPassing bool
	Queries   []PostureQuery
}

// ServiceAccess works out, for the API session apiSessionID of identity,
// what every service policy matching the identity grants: the permissions
// on each service it reaches, and each granting policy's posture checks
// evaluated against the session's posture data (a policy passes when all
// its checks pass; none: it passes). Each policy is evaluated once. With
// no session (apiSessionID "") only the permissions are worked out.
func ServiceAccess(rd *fsm.Reader, identity *fsm.Record, apiSessionID string) (map[string][]string, map[string][]PolicyPosture, error) {
	sides := fsm.ServicePolicySides
	policies, err := ServicePolicyKind.Matching(rd, sides.Identities, Identities, identity)
	if err != nil {
		return nil, nil, err
	}
	data := &pb.PostureData{}
	if rec, err := rd.Get(fsm.KindPostureData, apiSessionID); err == nil {
		data = rec.Body.(*pb.PostureData)
	}
	sess := &pb.ApiSession{}
	if rec, err := rd.Get(fsm.KindApiSession, apiSessionID); err == nil {
		sess = rec.Body.(*pb.ApiSession)
	}
	now := time.Now()
	perms, posture := map[string][]string{}, map[string][]PolicyPosture{}
	for _, pol := range policies {
		svcs, err := ServicePolicyKind.Matched(rd, pol, sides.Services, Services)
		if err != nil {
			return nil, nil, err
		}
		typ := pol.Body.(*pb.ServicePolicy).GetType()
		for _, id := range svcs {
			if !slices.Contains(perms[id], typ) {
				perms[id] = append(perms[id], typ)
				slices.Sort(perms[id])
			}
		}
		if len(svcs) == 0 || apiSessionID == "" {
			continue
		}
		checks, err := ServicePolicyKind.Matched(rd, pol, sides.PostureChecks, PostureChecks)
		if err != nil {
			return nil, nil, err
		}
		pp := PolicyPosture{Policy: pol, IsPassing: true}
		for _, id := range checks {
			rec, err := rd.Get(fsm.KindPostureCheck, id)
			if err != nil {
				continue
			}
			ok := PostureCheckPasses(rec.Body.(*pb.PostureCheck), data, sess, now)
			pp.Queries = append(pp.Queries, PostureQuery{Check: rec, IsPassing: ok})
			pp.IsPassing = pp.IsPassing && ok
		}
		for _, id := range svcs {
			posture[id] = append(posture[id], pp)
		}
	}
	return perms, posture, nil
}

// PostureChecks are posture checks as policies match them.
var PostureChecks = Entities{Kind: fsm.KindPostureCheck, Attrs: fsm.PostureCheckRoleAttributes,
	AttrsOf: func(r *fsm.Record) []string { return r.Body.(*pb.PostureCheck).GetRoleAttributes() }}

// PostureCheckPasses reports whether the posture data and the MFA state of
// API session sess satisfy check at now. An MFA check passes once the
// session gave an MFA code, within timeoutSeconds of now when that is
// positive (OpenZiti's -1: no timeout). Prompts on wake and unlock act on
// endpoint-state reports, which Garrison does not take: no wake or unlock
// is ever known, so they never fail a check.
func PostureCheckPasses(check *pb.PostureCheck, data *pb.PostureData, sess *pb.ApiSession, now time.Time) bool {
	var p struct {
		OperatingSystems []struct {
			Type     string   `json:"type"`
			Versions []string `json:"versions"`
		} `json:"operatingSystems"`
		MacAddresses []string  `json:"macAddresses"`
		Timeout      int64     `json:"timeoutSeconds"`
		Domains      []string  `json:"domains"`
		Process      *process  `json:"process"`
		Processes    []process `json:"processes"`
		Semantic     string    `json:"semantic"`
	}
	if json.Unmarshal(check.GetParamsJson(), &p) != nil {
		return false
	}
	switch check.GetTypeId() {
	case "OS":
		for _, os := range p.OperatingSystems {
			if !strings.EqualFold(os.Type, data.GetOsType()) {
				continue
			}
			if len(os.Versions) == 0 {
				return true
			}
			for _, v := range os.Versions {
				if versionSatisfies(data.GetOsVersion(), v) {
					return true
				}
			}
		}
		return false
	case "MAC":
		for _, m := range data.GetMacAddresses() {
			if slices.ContainsFunc(p.MacAddresses, func(want string) bool { return normalizeMAC(want) == normalizeMAC(m) }) {
				return true
			}
		}
		return false
	case "DOMAIN":
		return data.GetDomain() != "" && slices.ContainsFunc(p.Domains, func(d string) bool { return strings.EqualFold(d, data.GetDomain()) })
	case "PROCESS":
		return p.Process != nil && p.Process.passes(data)
	case "MFA":
		if !sess.GetIsMfaComplete() {
			return false
		}
		return p.Timeout <= 0 || now.Sub(time.Unix(0, sess.GetMfaPassedAt())) <= time.Duration(p.Timeout)*time.Second
	case "PROCESS_MULTI":
		if len(p.Processes) == 0 {
			return false
		}
		for _, proc := range p.Processes {
			ok := proc.passes(data)
			if p.Semantic == fsm.SemanticAnyOf && ok {
				return true
			}
			if p.Semantic != fsm.SemanticAnyOf && !ok {
				return false
			}
		}
		return p.Semantic != fsm.SemanticAnyOf
	}
	return false
}

type process struct {
	Path               string   `json:"path"`
	Hashes             []string `json:"hashes"`
	SignerFingerprint  string   `json:"signerFingerprint"`
	SignerFingerprints []string `json:"signerFingerprints"`
}

// passes: running, with one of the hashes (if any) and signed by one of the
// fingerprints (if any).
func (p process) passes(data *pb.PostureData) bool {
	st, ok := data.GetProcesses()[p.Path]
	if !ok || !st.GetIsRunning() {
		return false
	}
	if len(p.Hashes) > 0 && !slices.ContainsFunc(p.Hashes, func(h string) bool { return strings.EqualFold(h, st.GetHash()) }) {
		return false
	}
	want := p.SignerFingerprints
	if p.SignerFingerprint != "" {
		want = append(want, p.SignerFingerprint)
	}
	if len(want) == 0 {
		return true
	}
	for _, w := range want {
		if slices.ContainsFunc(st.GetSignerFingerprints(), func(f string) bool { return strings.EqualFold(f, w) }) {
			return true
		}
	}
	return false
}

func normalizeMAC(m string) string {
	return strings.ToLower(strings.NewReplacer(":", "", "-", "").Replace(m))
}

// versionSatisfies checks version against one constraint: an operator
// (>=, <=, >, <, =; none means =) and a dotted numeric version, compared
// part by part (missing parts are 0; a non-numeric part compares as text).
func versionSatisfies(version, constraint string) bool {
	constraint = strings.TrimSpace(constraint)
	op := "="
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(constraint, o); ok {
			op, constraint = o, strings.TrimSpace(rest)
			break
		}
	}
	c := compareVersions(version, constraint)
	switch op {
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	}
	return c == 0
}

func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := range max(len(as), len(bs)) {
		x, y := "0", "0"
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, errX := strconv.Atoi(x)
		yn, errY := strconv.Atoi(y)
		var c int
		if errX == nil && errY == nil {
			c = xn - yn
		} else {
			c = strings.Compare(x, y)
		}
		if c != 0 {
			if c < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}
