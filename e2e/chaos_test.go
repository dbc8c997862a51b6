package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/chaos"
)

// The fault harness: three real nodes (each in a network namespace of its
// own when run as root, else on loopback) and HAProxy; clients
// write and read registers through HAProxy and straight to nodes while a
// fault chosen at random each cycle strikes. The registers are of two
// sorts: six identities that live through the whole run (PATCHed, read;
// the register is appData.v), and services and service policies whose
// whole life clients play out within a cycle (created, replaced with
// PUT, PATCHed, read by name and deleted; the register is tags.v, and
// negative once deleted); after each cycle everything is healed and the history is
// checked (internal/chaos: linearizable, nothing lost, applied twice or
// read stale), every node's state compared, and no 5xx but a retryable 503
// allowed. TestChaos runs $GARRISON_CHAOS_CYCLES cycles (default 5, the
// smoke `make test` runs; `make chaos` runs 200) and writes a report to
// $GARRISON_CHAOS_REPORT (default: the test's temp dir), with the history
// of every cycle that found an anomaly beside it.

const chaosKeys = 6

// lifeKinds are the entities whose whole life a client plays out, with
// the body that creates or replaces one.
var lifeKinds = []struct {
	path string
	body func(name, v string) map[string]any
}{
	{"/services", func(name, v string) map[string]any {
		return map[string]any{"name": name, "encryptionRequired": true, "tags": map[string]any{"v": v}}
	}},
	{"/service-policies", func(name, v string) map[string]any {
		return map[string]any{"name": name, "type": "Dial", "semantic": "AnyOf", "serviceRoles": []string{"#chaos"},
			"identityRoles": []string{"#chaos"}, "tags": map[string]any{"v": v}}
	}},
}

// entity is one life a client plays out: key names its register in the
// history; id is known once its creation was acknowledged.
type entity struct {
	kind            int
	key, path, name string
	id              string
}

// faultKinds are the faults a cycle may strike with.
// The smoke runs the first five. Where nodes run in namespaces, a
// partition cuts a node's network link (its namespace's veth), a severed
// pair loses each other, and one-way loss drops the packets one of them
// sends the other; without namespaces each freezes a node instead.
var faultKinds = []string{"partition-leader", "sever-leader-follower", "remove-readd-follower", "kill-leader", "restart-all",
	"freeze-leader", "slow-network", "kill-follower", "freeze-follower", "partition-follower", "one-way-loss"}

type cycleReport struct {
	Cycle int    `json:"cycle"`
	Fault string `json:"fault"`
	// Detail says more of the fault where it has a choice to make.
	Detail    string          `json:"detail,omitempty"`
	Ops       int             `json:"ops"`
	Unknown   int             `json:"unknownWrites"`
	Anomalies []chaos.Anomaly `json:"anomalies"`
	// RecoveryMs: from the fault to the first write acknowledged after it.
	RecoveryMs int64 `json:"recoveryMs"`
	Errors5xx  int   `json:"serverErrors"`
	Max503Ms   int64 `json:"longest503Ms"`
}

type chaosReport struct {
	Cycles int            `json:"cycles"`
	Faults map[string]int `json:"faults"`
	Ops    int            `json:"operations"`
	// Actions counts the operations by what was sent ("PUT /services").
	Actions    map[string]int `json:"operationsByAction"`
	Unknown    int            `json:"unknownWrites"`
	Anomalies  int            `json:"anomalies"`
	Recovery   map[string]any `json:"recoveryAfterLeaderLossMs"`
	PerCycle   []cycleReport  `json:"perCycle"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt time.Time      `json:"finishedAt"`
}

// chaosRun is one harness: the cluster, its registers and the history.
type chaosRun struct {
	t      *testing.T
	c      *Cluster
	admin  string
	keys   []string // identity ids
	client *http.Client
	mu     sync.Mutex
	ops    []chaos.Op
	// lives are this cycle's entities, for reads; found are anomalies a
	// single answer shows (two entities of one name).
	lives   []*entity
	found   []chaos.Anomaly
	detail  string // of this cycle's fault
	actions map[string]int
	errs5   int
	max503  time.Duration
	seq     int64
	// netemNoted: the missing netem was reported once.
	netemNoted bool
	// initial is each register's value when a cycle starts (what the
	// final reads of the previous cycle agreed on).
	initial map[string]int64
}

// throttle slows node n by freezing it 60 ms of every 100 until the
// returned heal is called.
func (r *chaosRun) throttle(n *Node) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_ = n.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(60 * time.Millisecond)
			_ = n.cmd.Process.Signal(syscall.SIGCONT)
			select {
			case <-stop:
				return
			case <-time.After(40 * time.Millisecond):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

func TestChaos(t *testing.T) {
	cycles := 5
	if v := os.Getenv("GARRISON_CHAOS_CYCLES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		cycles = n
	}
	reportPath := os.Getenv("GARRISON_CHAOS_REPORT")
	if reportPath == "" {
		reportPath = filepath.Join(t.TempDir(), "chaos-report.json")
	}
	c := newCluster(t, clusterOptions{netns: true})
	if c.Net != nil {
		t.Logf("nodes run in network namespaces %v at %v: partitions cut their links", c.Net.ns, c.Net.ips)
	}
	run := &chaosRun{t: t, c: c, admin: c.Login(c.LBURL), initial: map[string]int64{}, actions: map[string]int{},
		client: &http.Client{Timeout: 3 * time.Second, Transport: c.http.Transport}}
	for i := range chaosKeys {
		run.keys = append(run.keys, c.createThrough(t, run.admin, "/identities",
			map[string]any{"name": fmt.Sprintf("register-%d", i), "type": "User", "isAdmin": false}))
	}
	c.mustCLI("edge", "login", c.LBURL, "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)
	rep := chaosReport{Faults: map[string]int{}, StartedAt: time.Now()}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var recoveries []int64
	for cycle := 1; cycle <= cycles; cycle++ {
		fault := faultKinds[(cycle-1)%len(faultKinds)] // every kind once first
		if cycle > len(faultKinds) {
			fault = faultKinds[rng.IntN(len(faultKinds))]
		}
		cr := run.cycle(cycle, fault, rng)
		rep.Cycles++
		rep.Faults[fault]++
		rep.Ops += cr.Ops
		rep.Unknown += cr.Unknown
		rep.Anomalies += len(cr.Anomalies)
		if fault == "kill-leader" || fault == "freeze-leader" || fault == "partition-leader" {
			recoveries = append(recoveries, cr.RecoveryMs)
		}
		rep.PerCycle = append(rep.PerCycle, cr)
		label := fault
		if cr.Detail != "" {
			label += " (" + cr.Detail + ")"
		}
		t.Logf("cycle %d %s: %d ops, %d unknown, recovery %d ms, %d anomalies", cycle, label, cr.Ops, cr.Unknown, cr.RecoveryMs, len(cr.Anomalies))
		for _, a := range cr.Anomalies {
			t.Errorf("cycle %d (%s): %s %s: %s", cycle, fault, a.Kind, a.Key, a.Detail)
		}
		if len(cr.Anomalies) > 0 {
			run.saveHistory(filepath.Join(filepath.Dir(reportPath), fmt.Sprintf("history-cycle-%d.json", cycle)))
		}
		run.ops = nil
	}
	rep.FinishedAt = time.Now()
	rep.Actions = run.actions
	slices.Sort(recoveries)
	if n := len(recoveries); n > 0 {
		rep.Recovery = map[string]any{"count": n, "p50": recoveries[n/2], "p99": recoveries[min(n-1, n*99/100)], "max": recoveries[n-1]}
	}
	raw, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(reportPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %s: %d cycles, %v, %d ops, %d unknown writes, %d anomalies, recovery %v", reportPath, rep.Cycles, rep.Faults,
		rep.Ops, rep.Unknown, rep.Anomalies, rep.Recovery)
	if rep.Unknown > 0 {
		t.Errorf("%d writes ended with an unknown outcome", rep.Unknown)
	}
}

// cycle runs clients, strikes, heals, and checks.
func (r *chaosRun) cycle(n int, fault string, rng *rand.Rand) cycleReport {
	r.errs5, r.max503, r.lives, r.found, r.detail = 0, 0, nil, nil, ""
	// Each register starts the cycle with the value the last one left: a
	// write of it, done before anything of this cycle began.
	start := time.Now()
	for _, k := range r.keys {
		if v := r.initial[k]; v != 0 {
			r.record(chaos.Op{Client: -2, Key: k, Kind: chaos.Write, Value: v, Call: start.Add(-2 * time.Second), Return: start.Add(-time.Second)})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runClient(w+n*10, stop)
		}()
	}
	time.Sleep(time.Second)
	heal := r.strike(fault, rng)
	struck := time.Now() // the fault is in place
	time.Sleep(time.Duration(3000+rng.IntN(2000)) * time.Millisecond)
	heal()
	r.waitReady(45 * time.Second)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	r.finalReads()
	history := slices.Clone(r.ops)
	for _, op := range history {
		if op.Final && slices.Contains(r.keys, op.Key) {
			r.initial[op.Key] = op.Value
		}
	}
	rep := chaos.Check(history, 30*time.Second)
	cr := cycleReport{Cycle: n, Fault: fault, Detail: r.detail, Ops: rep.Ops, Unknown: rep.Unknown, Anomalies: append(rep.Anomalies, r.found...),
		Errors5xx: r.errs5, Max503Ms: r.max503.Milliseconds(), RecoveryMs: r.recovery(struck)}
	if d := r.compareStates(); d != "" {
		cr.Anomalies = append(cr.Anomalies, chaos.Anomaly{Kind: "diverged", Detail: d})
	}
	// The election budget: no write sees 503s for longer than 5 s.
	if r.max503 > 5*time.Second {
		cr.Anomalies = append(cr.Anomalies, chaos.Anomaly{Kind: "slow-recovery", Detail: fmt.Sprintf("a write was answered 503 for %s", r.max503)})
	}
	if r.errs5 > 0 {
		cr.Anomalies = append(cr.Anomalies, chaos.Anomaly{Kind: "server-error", Detail: fmt.Sprintf("%d answers 5xx other than a retryable 503", r.errs5)})
	}
	return cr
}

// recovery is the time from the fault to the first write acknowledged
// after it that began after it.
func (r *chaosRun) recovery(struck time.Time) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	best := time.Duration(-1)
	for _, op := range r.ops {
		if op.Kind == chaos.Write && !op.Unknown && op.Call.After(struck) {
			if d := op.Return.Sub(struck); best < 0 || d < best {
				best = d
			}
		}
	}
	return best.Milliseconds()
}

// runClient writes and reads registers until stop: 70% through HAProxy,
// the rest straight to a node. Half its operations PATCH or read the
// identities; the other half live an entity's life or read one.
func (r *chaosRun) runClient(id int, stop chan struct{}) {
	rng := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	var own *entity
	for {
		select {
		case <-stop:
			return
		default:
		}
		base := r.c.LBURL
		if rng.IntN(10) >= 7 {
			base = r.c.Nodes[rng.IntN(len(r.c.Nodes))].URL()
		}
		key := r.keys[rng.IntN(len(r.keys))]
		switch n := rng.IntN(10); {
		case n < 3:
			v := r.nextValue()
			r.send(chaos.Op{Client: id, Key: key, Value: v}, base, http.MethodPatch, "/identities/"+key,
				map[string]any{"appData": map[string]any{"v": strconv.FormatInt(v, 10)}})
		case n < 5:
			r.read(chaos.Op{Client: id, Key: key}, base, "/identities/"+key, "")
		case n < 8:
			own = r.live(id, base, own, rng)
		default:
			r.mu.Lock()
			var e *entity
			if len(r.lives) > 0 {
				e = r.lives[rng.IntN(len(r.lives))]
			}
			r.mu.Unlock()
			if e != nil {
				r.read(chaos.Op{Client: id, Key: e.key}, base, e.path, e.name)
			}
		}
	}
}

func (r *chaosRun) nextValue() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	return r.seq
}

// live takes a client's entity one step through its life: created when it
// has none, then replaced or patched, and one time in five deleted, after
// which the client starts another. An entity a write of unknown outcome
// touched is left alone, since its state is no longer known to its owner.
func (r *chaosRun) live(client int, base string, own *entity, rng *rand.Rand) *entity {
	v := r.nextValue()
	tag := strconv.FormatInt(v, 10)
	op := chaos.Op{Client: client, Value: v}
	if own == nil {
		k := rng.IntN(len(lifeKinds))
		e := &entity{kind: k, path: lifeKinds[k].path, name: "life-" + tag}
		e.key = e.path + "/" + e.name
		r.mu.Lock()
		r.lives = append(r.lives, e)
		r.mu.Unlock()
		op.Key = e.key
		raw := r.send(op, base, http.MethodPost, e.path, lifeKinds[k].body(e.name, tag))
		var out struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if raw == nil || json.Unmarshal(raw, &out) != nil || out.Data.ID == "" {
			return nil
		}
		e.id = out.Data.ID
		return e
	}
	op.Key = own.key
	var raw []byte
	switch n := rng.IntN(5); {
	case n == 0:
		op.Value = -v
		r.send(op, base, http.MethodDelete, own.path+"/"+own.id, nil)
		return nil
	case n < 3:
		raw = r.send(op, base, http.MethodPut, own.path+"/"+own.id, lifeKinds[own.kind].body(own.name, tag))
	default:
		raw = r.send(op, base, http.MethodPatch, own.path+"/"+own.id, map[string]any{"tags": map[string]any{"v": tag}})
	}
	if raw == nil {
		return nil
	}
	return own
}

// send makes op's write: method on path (under the management API) with
// body, retried with its Idempotency-Key for up to 20 s until a 2xx. It
// records the write, of unknown outcome if no 2xx came, and returns the
// answer, or nil when there was none or the write was refused.
func (r *chaosRun) send(op chaos.Op, base, method, path string, body any) []byte {
	op.Kind, op.Call = chaos.Write, time.Now()
	op.Action = method + " " + actionPath(path)
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	idem := fmt.Sprintf("chaos-%d-%d", op.Client, op.Value)
	var first503 time.Time
	for attempt := 1; time.Since(op.Call) < 20*time.Second; attempt++ {
		req, _ := http.NewRequest(method, base+"/edge/management/v1"+path, bytes.NewReader(payload))
		req.Header.Set("zt-session", r.admin)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Idempotency-Key", idem)
		resp, err := r.client.Do(req)
		var raw []byte
		if err == nil {
			raw, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		// An answer cut off mid-body (by a fault, or the client's
		// timeout) is no answer: the write is sent again.
		if err == nil {
			checkSpec(r.t, method, req.URL.Path, resp.StatusCode, raw)
			switch {
			case resp.StatusCode/100 == 2:
				op.Return = time.Now()
				r.record(op)
				return raw
			case resp.StatusCode == http.StatusServiceUnavailable:
				if first503.IsZero() {
					first503 = time.Now()
				}
				r.note503(time.Since(first503))
			case resp.StatusCode >= 500:
				r.mu.Lock()
				r.errs5++
				r.mu.Unlock()
			default:
				// A refusal is an anomaly: the harness's writes are all
				// valid, and an entity's owner knows its state. It
				// changed nothing, but an earlier attempt may have taken
				// effect: the write's outcome is then unknown.
				r.mu.Lock()
				r.found = append(r.found, chaos.Anomaly{Kind: "refused-write", Key: op.Key,
					Detail: fmt.Sprintf("%s (write %d, attempt %d) refused: %d %s", op.Action, op.Value, attempt, resp.StatusCode, raw)})
				r.mu.Unlock()
				if attempt > 1 {
					op.Unknown = true
					r.record(op)
				}
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
		// Requests straight to a node may hit a dead one: go through the
		// load balancer from the second try on.
		base = r.c.LBURL
	}
	op.Unknown = true
	r.record(op)
	return nil
}

// actionPath is path without the entity id: "/services/x" → "/services".
func actionPath(path string) string {
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		return path[:i+1]
	}
	return path
}

// read records op, a read of path: an identity's appData.v when name is
// "", else the tags.v of the entity of that name in the list at path (0
// when there is none).
func (r *chaosRun) read(op chaos.Op, base, path, name string) {
	op.Kind, op.Call = chaos.Read, time.Now()
	op.Action = "GET " + actionPath(path)
	target := base + "/edge/management/v1" + path
	if name != "" {
		target += "?filter=" + url.QueryEscape(`name="`+name+`"`)
	}
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("zt-session", r.admin)
	resp, err := r.client.Do(req)
	if err != nil {
		return // no answer: no information
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return // cut off mid-body by a fault or the timeout: no information
	}
	op.Return = time.Now()
	checkSpec(r.t, http.MethodGet, req.URL.Path, resp.StatusCode, raw)
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		r.mu.Lock()
		r.errs5++
		r.mu.Unlock()
	}
	if resp.StatusCode != http.StatusOK {
		return
	}
	var v any
	if name == "" {
		var out struct {
			Data struct {
				AppData map[string]any `json:"appData"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &out) != nil {
			return
		}
		v = out.Data.AppData["v"]
	} else {
		var out struct {
			Data []struct {
				Tags map[string]any `json:"tags"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &out) != nil {
			return
		}
		if len(out.Data) > 1 {
			r.mu.Lock()
			r.found = append(r.found, chaos.Anomaly{Kind: "duplicate-entity", Key: op.Key,
				Detail: fmt.Sprintf("%d entities named %s", len(out.Data), name)})
			r.mu.Unlock()
		}
		if len(out.Data) > 0 {
			v = out.Data[0].Tags["v"]
		}
	}
	if s, ok := v.(string); ok {
		op.Value, _ = strconv.ParseInt(s, 10, 64)
	}
	op.Node = resp.Header.Get("Garrison-Node")
	r.record(op)
}

func (r *chaosRun) record(op chaos.Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	if op.Action != "" { // not a cycle's starting value
		r.actions[op.Action]++
	}
	r.mu.Unlock()
}

func (r *chaosRun) note503(d time.Duration) {
	r.mu.Lock()
	r.max503 = max(r.max503, d)
	r.mu.Unlock()
}

// finalReads reads every register on every node, quiet and healed.
func (r *chaosRun) finalReads() {
	for _, n := range r.c.Nodes {
		for _, k := range r.keys {
			r.read(chaos.Op{Client: -1, Key: k, Final: true}, n.URL(), "/identities/"+k, "")
		}
		for _, e := range r.lives {
			r.read(chaos.Op{Client: -1, Key: e.key, Final: true}, n.URL(), e.path, e.name)
		}
	}
}

// leaderNode is the node whose raft health check says it leads.
func (r *chaosRun) leaderNode() *Node {
	for i := 0; i < 100; i++ {
		for _, n := range r.c.Nodes {
			if n.cmd == nil {
				continue
			}
			resp, err := r.client.Get(n.URL() + "/health-checks/controller/raft")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return n
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatal("no leader")
	return nil
}

func (r *chaosRun) follower() *Node {
	leader := r.leaderNode()
	for _, n := range r.c.Nodes {
		if n != leader {
			return n
		}
	}
	return nil
}

// strike applies a fault and returns what heals it.
func (r *chaosRun) strike(fault string, rng *rand.Rand) func() {
	switch fault {
	case "kill-leader", "kill-follower":
		n := r.follower()
		if fault == "kill-leader" {
			n = r.leaderNode()
		}
		n.Kill9()
		return n.Start
	case "freeze-leader", "freeze-follower":
		n := r.follower()
		if fault == "freeze-leader" {
			n = r.leaderNode()
		}
		_ = n.cmd.Process.Signal(syscall.SIGSTOP)
		return func() { _ = n.cmd.Process.Signal(syscall.SIGCONT) }
	case "partition-leader", "partition-follower":
		n := r.follower()
		if fault == "partition-leader" {
			n = r.leaderNode()
		}
		if r.c.Net == nil {
			_ = n.cmd.Process.Signal(syscall.SIGSTOP)
			return func() { _ = n.cmd.Process.Signal(syscall.SIGCONT) }
		}
		i := slices.Index(r.c.Nodes, n)
		if err := r.c.Net.cut(i); err != nil {
			r.t.Fatal(err)
		}
		return func() {
			if err := r.c.Net.heal(i); err != nil {
				r.t.Fatal(err)
			}
		}
	case "sever-leader-follower":
		// The leader and one follower lose each other; both still reach
		// the other follower (a partial partition).
		leader, follower := r.leaderNode(), r.follower()
		if r.c.Net == nil {
			_ = follower.cmd.Process.Signal(syscall.SIGSTOP)
			return func() { _ = follower.cmd.Process.Signal(syscall.SIGCONT) }
		}
		restore, err := r.c.Net.sever(slices.Index(r.c.Nodes, leader), slices.Index(r.c.Nodes, follower))
		if err != nil {
			r.t.Fatal(err)
		}
		return func() {
			if err := restore(); err != nil {
				r.t.Fatal(err)
			}
		}
	case "one-way-loss":
		// Every packet one way between the leader and a follower is
		// lost, in a direction chosen at random; the other way works.
		leader, follower := r.leaderNode(), r.follower()
		if r.c.Net == nil {
			_ = follower.cmd.Process.Signal(syscall.SIGSTOP)
			return func() { _ = follower.cmd.Process.Signal(syscall.SIGCONT) }
		}
		from, to := slices.Index(r.c.Nodes, leader), slices.Index(r.c.Nodes, follower)
		if rng.IntN(2) == 0 {
			from, to = to, from
		}
		r.detail = fmt.Sprintf("%s → %s lost (leader %s)", r.c.Nodes[from].Name, r.c.Nodes[to].Name, leader.Name)
		restore, err := r.c.Net.drop(from, to)
		if err != nil {
			r.t.Fatal(err)
		}
		return func() {
			if err := restore(); err != nil {
				r.t.Fatal(err)
			}
		}
	case "restart-all":
		for _, n := range r.c.Nodes {
			n.Stop()
		}
		return func() {
			for _, n := range r.c.Nodes {
				n.Start()
			}
		}
	case "remove-readd-follower":
		n := r.follower()
		if out, err := r.c.cli("cluster", "remove", n.Name); err != nil {
			r.t.Logf("remove %s: %v %s", n.Name, err, out)
			return func() {}
		}
		n.Stop()
		return func() {
			_ = os.RemoveAll(n.DataDir)
			n.Start()
			r.c.eventually(30*time.Second, "re-add "+n.Name, func() error {
				out, err := r.c.cli("cluster", "add", n.ClusterAddr)
				if err != nil {
					return fmt.Errorf("%v: %s", err, out)
				}
				return nil
			})
		}
	case "slow-network":
		// netem on loopback slows every packet of the cluster (and of
		// the clients): 30 ms ± 10 ms each way. Where the kernel has no
		// netem, a follower is slowed instead: frozen 60 ms of every 100.
		if out, err := exec.Command("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "30ms", "10ms").CombinedOutput(); err == nil {
			undo := func() { _ = exec.Command("tc", "qdisc", "del", "dev", "lo", "root").Run() }
			r.t.Cleanup(undo)
			return undo
		} else if !r.netemNoted {
			r.netemNoted = true
			r.t.Logf("tc netem unavailable (%v: %s): slow-network slows a follower's process instead", err, bytes.TrimSpace(out))
		}
		return r.throttle(r.follower())
	}
	r.t.Fatalf("unknown fault %s", fault)
	return nil
}

// waitReady waits until every node answers ready.
func (r *chaosRun) waitReady(timeout time.Duration) {
	r.c.eventually(timeout, "every node ready", func() error {
		for _, n := range r.c.Nodes {
			resp, err := r.client.Get(n.URL() + "/health-checks/ready")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %d", n.Name, resp.StatusCode)
			}
		}
		return nil
	})
}

// compareStates takes a backup from every node and compares their
// digests (fsm.Store.Digest) at equal applied indexes; "" when they agree.
func (r *chaosRun) compareStates() string {
	var last string
	for attempt := 0; attempt < 30; attempt++ {
		digests := map[string]string{}
		indexes := map[uint64]bool{}
		ok := true
		for _, n := range r.c.Nodes {
			d, idx, err := r.digestOf(n)
			if err != nil {
				ok = false
				last = err.Error()
				break
			}
			digests[n.Name] = d
			indexes[idx] = true
		}
		if ok && len(indexes) == 1 {
			first := digests[r.c.Nodes[0].Name]
			same := true
			for _, d := range digests {
				same = same && d == first
			}
			if same {
				return ""
			}
			return fmt.Sprintf("nodes at the same applied index hold different states: %v", digests)
		}
		if ok {
			last = fmt.Sprintf("applied indexes differ: %v", indexes)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "states never compared at one index: " + last
}

func (r *chaosRun) digestOf(n *Node) (string, uint64, error) {
	req, _ := http.NewRequest(http.MethodGet, n.URL()+"/garrison/v1/backup", nil)
	req.Header.Set("zt-session", r.admin)
	client := &http.Client{Timeout: 30 * time.Second, Transport: r.c.http.Transport}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("backup of %s: %d", n.Name, resp.StatusCode)
	}
	dir, err := os.MkdirTemp("", "garrison-chaos-")
	if err != nil {
		return "", 0, err
	}
	defer os.RemoveAll(dir)
	if _, err := fsm.ReadBackup(resp.Body, filepath.Join(dir, "state.db")); err != nil {
		return "", 0, err
	}
	s, err := fsm.Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		return "", 0, err
	}
	defer s.Close()
	return s.Digest()
}

func (r *chaosRun) saveHistory(path string) {
	r.mu.Lock()
	raw, _ := json.MarshalIndent(r.ops, "", " ")
	r.mu.Unlock()
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		r.t.Logf("save history: %v", err)
	}
	r.t.Logf("history kept for replay: %s", path)
}
