package e2e

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a node's /metrics with the Prometheus text parser.
func (c *Cluster) scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s/metrics: %d %s", base, resp.StatusCode, raw)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s/metrics: %v", base, err)
	}
	return families
}

// sum adds the values (counts, for histograms) of a family's series whose
// labels include want.
func sum(f *dto.MetricFamily, want map[string]string) float64 {
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		ok := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		}
	}
	return total
}

// /metrics on every node: the Raft, HTTP, write, login and store series
// are there and move with traffic; labels are route templates, not paths.
func TestMetricsMoveWithTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCluster(t, clusterOptions{extraConfig: "metrics:\n  enabled: true\n"})
	follower := c.Nodes[1].URL()
	before := c.scrape(t, follower)
	for _, name := range []string{"garrison_raft_state", "garrison_raft_term", "garrison_raft_commit_index", "garrison_raft_applied_index",
		"garrison_raft_last_contact_seconds", "garrison_cluster_peer_last_contact_seconds", "garrison_bbolt_file_bytes",
		"garrison_api_sessions", "go_goroutines", "process_resident_memory_bytes"} {
		if before[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	admin := c.Login(follower)
	if st, _, _ := c.Do("POST", follower+"/edge/management/v1/identities", admin,
		map[string]any{"name": "metrics-user", "type": "User", "isAdmin": false}); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	c.Do("GET", follower+"/edge/management/v1/identities?filter=name%3D%22metrics-user%22", admin, nil)
	if resp, err := c.http.PostForm(follower+"/oidc/oauth/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"}, "refresh_token": {"x"}}); err == nil {
		resp.Body.Close()
	}
	after := c.scrape(t, follower)
	dashboardNamesKnown(t, after)
	commit := func(f map[string]*dto.MetricFamily) float64 { return sum(f["garrison_raft_commit_index"], nil) }
	if commit(after) <= commit(before) {
		t.Errorf("the commit index did not move: %v → %v", commit(before), commit(after))
	}
	for what, got := range map[string]float64{
		"list requests by template": sum(after["garrison_http_request_duration_seconds"],
			map[string]string{"route": "/edge/management/v1/identities", "method": "GET", "code": "200"}),
		"forwarded writes":  sum(after["garrison_cluster_write_duration_seconds"], map[string]string{"via": "forwarded", "outcome": "ok"}),
		"read barriers":     sum(after["garrison_cluster_read_barrier_duration_seconds"], map[string]string{"outcome": "ok"}),
		"password logins":   sum(after["garrison_logins_total"], map[string]string{"method": "password", "outcome": "success"}),
		"applied batches":   sum(after["garrison_fsm_apply_batch_duration_seconds"], nil),
		"follower state":    sum(after["garrison_raft_state"], map[string]string{"state": "Follower"}),
		"sessions in state": sum(after["garrison_api_sessions"], nil),
	} {
		if got < 1 {
			t.Errorf("%s: %v", what, got)
		}
	}
	for _, m := range after["garrison_http_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "metrics-user") {
				t.Errorf("a raw path became a label: %s", l.GetValue())
			}
		}
	}
}

// dashboardNamesKnown checks that every series the Grafana dashboard in
// deploy/ queries is one a node serves.
func dashboardNamesKnown(t *testing.T, families map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../deploy/grafana/garrison-cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\b(?:garrison|go|process)_[a-z_]+`).FindAllString(string(raw), -1)
	if len(names) < 10 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	for _, name := range names {
		family := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && families[base] != nil {
				family = base
			}
		}
		if families[family] == nil {
			t.Errorf("the dashboard queries %s, which no node serves", name)
		}
	}
}

// The log level changes at run time through the agent socket: one line
// per request at info, none once the level is warn.
func TestLogLevelChangesWithoutARestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	c := newCluster(t, clusterOptions{nodes: 1, noHAProxy: true})
	n := c.Nodes[0]
	requestLines := func() int {
		raw, err := os.ReadFile(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(raw), `msg=request `)
	}
	if out, err := garrison(t, "cluster", "log-level", "--config", n.ConfigPath); err != nil || !strings.Contains(out, "log level debug") {
		t.Fatalf("show the level (the harness starts nodes at debug): %v %s", err, out)
	}
	if out, err := garrison(t, "cluster", "log-level", "--config", n.ConfigPath, "info"); err != nil || !strings.Contains(out, "log level info") {
		t.Fatalf("set info: %v %s", err, out)
	}
	start := requestLines()
	c.Do("GET", n.URL()+"/edge/client/v1/version", "", nil)
	before := requestLines()
	if before <= start {
		t.Fatal("no request line at info")
	}
	if out, err := garrison(t, "cluster", "log-level", "--config", n.ConfigPath, "warn"); err != nil || !strings.Contains(out, "log level warn") {
		t.Fatalf("set warn: %v %s", err, out)
	}
	for range 5 {
		c.Do("GET", n.URL()+"/edge/client/v1/version", "", nil)
	}
	if after := requestLines(); after != before {
		t.Fatalf("%d request lines at warn", after-before)
	}
	if out, err := garrison(t, "cluster", "log-level", "--config", n.ConfigPath, "loud"); err == nil {
		t.Fatalf("an unknown level was taken: %s", out)
	}
}
