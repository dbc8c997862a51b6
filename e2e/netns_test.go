package e2e

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// netLayout puts each node in a network namespace of its own, joined to
// the test's namespace by a veth pair on one bridge: nodes talk to each
// other and HAProxy and the clients reach them at 10.x.y.i, and setting a
// node's link down cuts it off from everything (a partition). The test
// creates and removes all of it.
type netLayout struct {
	bridge string
	ns     []string // per node
	veths  []string // the test's end of each node's link
	ips    []string // per node
}

// ipCmd runs ip with args.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetLayout makes the namespaces, or returns nil (with the reason
// logged) where it cannot: not root, no ip, no bridge support.
func newNetLayout(t testing.TB, nodes int) *netLayout {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Log("network namespaces need root: nodes stay on loopback, without partitions")
		return nil
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Log("no ip command: nodes stay on loopback, without partitions")
		return nil
	}
	id := fmt.Sprintf("%04x", rand.IntN(0x10000))
	subnet := fmt.Sprintf("10.%d.%d", 200+rand.IntN(50), rand.IntN(250))
	l := &netLayout{bridge: "gb" + id}
	fail := func(err error) *netLayout {
		t.Logf("network namespaces unavailable (%v): nodes stay on loopback, without partitions", err)
		l.remove()
		return nil
	}
	for _, args := range [][]string{
		{"link", "add", l.bridge, "type", "bridge"},
		{"addr", "add", subnet + ".254/24", "dev", l.bridge},
		{"link", "set", l.bridge, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return fail(err)
		}
	}
	for i := 1; i <= nodes; i++ {
		ns, outer, inner := fmt.Sprintf("g%sn%d", id, i), fmt.Sprintf("gv%s%da", id, i), fmt.Sprintf("gv%s%db", id, i)
		ip := fmt.Sprintf("%s.%d", subnet, i)
		l.ns, l.veths, l.ips = append(l.ns, ns), append(l.veths, outer), append(l.ips, ip)
		for _, args := range [][]string{
			{"netns", "add", ns},
			{"link", "add", outer, "type", "veth", "peer", "name", inner},
			{"link", "set", inner, "netns", ns},
			{"link", "set", outer, "master", l.bridge, "up"},
			{"netns", "exec", ns, "ip", "addr", "add", ip + "/24", "dev", inner},
			{"netns", "exec", ns, "ip", "link", "set", inner, "up"},
			{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		} {
			if err := ipCmd(args...); err != nil {
				return fail(err)
			}
		}
	}
	t.Cleanup(l.remove)
	return l
}

func (l *netLayout) remove() {
	for _, ns := range l.ns {
		_ = ipCmd("netns", "del", ns) // its veth pair goes with it
	}
	_ = ipCmd("link", "del", l.bridge)
}

// cut and heal node i's (0-based) link: a partition of that node from
// every other node, HAProxy and the clients.
func (l *netLayout) cut(i int) error  { return ipCmd("link", "set", l.veths[i], "down") }
func (l *netLayout) heal(i int) error { return ipCmd("link", "set", l.veths[i], "up") }

// drop loses every packet node i sends to node j (a blackhole route in
// i's namespace), while j's packets still reach i: one-way loss. It
// returns what restores the path.
func (l *netLayout) drop(i, j int) (func() error, error) {
	route := func(op string) error {
		return ipCmd("netns", "exec", l.ns[i], "ip", "route", op, "blackhole", l.ips[j]+"/32")
	}
	if err := route("add"); err != nil {
		return nil, err
	}
	return func() error { return route("del") }, nil
}

// sever cuts the path between nodes i and j only (blackhole routes in
// both namespaces): each still reaches the third node, HAProxy and the
// clients. It returns what restores the path.
func (l *netLayout) sever(i, j int) (func() error, error) {
	undoIJ, err := l.drop(i, j)
	if err != nil {
		return nil, err
	}
	undoJI, err := l.drop(j, i)
	if err != nil {
		return nil, errors.Join(err, undoIJ())
	}
	return func() error { return errors.Join(undoIJ(), undoJI()) }, nil
}
