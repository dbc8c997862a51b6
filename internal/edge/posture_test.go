package edge

import (
	"testing"
	"time"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

func TestPostureCheckPasses(t *testing.T) {
	data := &pb.PostureData{OsType: "Windows", OsVersion: "10.0.19045", MacAddresses: []string{"00-11-22-33-44-55"}, Domain: "Corp.Example",
		Processes: map[string]*pb.ProcessState{
			"/bin/agent": {IsRunning: true, Hash: "ABC", SignerFingerprints: []string{"f1"}},
			"/bin/off":   {IsRunning: false},
		}}
	for _, c := range []struct {
		typ, params string
		want        bool
	}{
		{"OS", `{"operatingSystems":[{"type":"Windows","versions":[]}]}`, true},
		{"OS", `{"operatingSystems":[{"type":"Windows","versions":[">=10.0.19000"]}]}`, true},
		{"OS", `{"operatingSystems":[{"type":"Windows","versions":[">=10.1"]}]}`, false},
		{"OS", `{"operatingSystems":[{"type":"Linux","versions":[]}]}`, false},
		{"MAC", `{"macAddresses":["00:11:22:33:44:55"]}`, true},
		{"MAC", `{"macAddresses":["00:11:22:33:44:66"]}`, false},
		{"DOMAIN", `{"domains":["corp.example"]}`, true},
		{"DOMAIN", `{"domains":["other.example"]}`, false},
		{"PROCESS", `{"process":{"path":"/bin/agent","hashes":["abc"],"signerFingerprint":"F1"}}`, true},
		{"PROCESS", `{"process":{"path":"/bin/agent","hashes":["def"]}}`, false},
		{"PROCESS", `{"process":{"path":"/bin/off"}}`, false},
		{"PROCESS_MULTI", `{"semantic":"AnyOf","processes":[{"path":"/bin/off"},{"path":"/bin/agent"}]}`, true},
		{"PROCESS_MULTI", `{"semantic":"AllOf","processes":[{"path":"/bin/off"},{"path":"/bin/agent"}]}`, false},
		{"MFA", `{"timeoutSeconds":-1}`, false},
	} {
		check := &pb.PostureCheck{TypeId: c.typ, ParamsJson: []byte(c.params)}
		if got := PostureCheckPasses(check, data, &pb.ApiSession{}, time.Now()); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.typ, c.params, got, c.want)
		}
	}
	// MFA: passed by a session that gave its code, within the timeout.
	now := time.Unix(10_000, 0)
	passed := &pb.ApiSession{IsMfaRequired: true, IsMfaComplete: true, MfaPassedAt: now.Add(-10 * time.Minute).UnixNano()}
	for params, want := range map[string]bool{
		`{"timeoutSeconds":-1}`: true, `{"timeoutSeconds":0}`: true, `{"timeoutSeconds":900}`: true,
		`{"timeoutSeconds":300}`: false, `{"timeoutSeconds":-1,"promptOnWake":true}`: true,
	} {
		check := &pb.PostureCheck{TypeId: "MFA", ParamsJson: []byte(params)}
		if got := PostureCheckPasses(check, data, passed, now); got != want {
			t.Errorf("MFA %s after a code 10 minutes ago = %v, want %v", params, got, want)
		}
	}
	for _, c := range []struct {
		version, constraint string
		want                bool
	}{
		{"5.10.2", ">=5.10", true}, {"5.9", ">=5.10", false}, {"6", ">5.99.99", true}, {"1.2.3", "1.2.3", true},
		{"1.2.3", "=1.2", false}, {"1.2", "<=1.2.0", true}, {"14.0-beta", "14.0-beta", true},
	} {
		if got := versionSatisfies(c.version, c.constraint); got != c.want {
			t.Errorf("%s against %s = %v, want %v", c.version, c.constraint, got, c.want)
		}
	}
}
