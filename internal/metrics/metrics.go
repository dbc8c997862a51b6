// Package metrics holds one node's Prometheus instruments: its own
// registry (no global state), the counters and histograms the packages
// feed as things happen, and gauges read from them when scraped. Every
// method is safe on a nil *Metrics, so code and tests without metrics
// pass nil. Label values are bounded: route templates, methods, status
// codes, outcomes and member ids, never raw paths or entity ids.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one node's instruments.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests  *prometheus.HistogramVec
	writes        *prometheus.HistogramVec
	readBarriers  *prometheus.HistogramVec
	fsmApply      prometheus.Histogram
	fsmBatch      prometheus.Histogram
	snapshots     prometheus.Histogram
	snapshotBytes prometheus.Gauge
	leaderChanges prometheus.Counter
	logins        *prometheus.CounterVec
	tokenGrants   *prometheus.CounterVec
	lockouts      prometheus.Counter

	mu sync.Mutex // guards registering scrape-time gauges
}

// latencyBuckets span a loopback round trip to a slow disk's fsync.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New makes a node's instruments, with the Go runtime's and the
// process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.httpRequests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "garrison_http_request_duration_seconds", Help: "API requests by route template, method and status.",
		Buckets: latencyBuckets}, []string{"api", "route", "method", "code"})
	m.writes = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "garrison_cluster_write_duration_seconds", Help: "Replicated writes from proposal to applied here, by where they were proposed (leader: this node led; forwarded: sent to the leader) and outcome.",
		Buckets: latencyBuckets}, []string{"via", "outcome"})
	m.readBarriers = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "garrison_cluster_read_barrier_duration_seconds", Help: "Read barriers (linearizable reads) by outcome.",
		Buckets: latencyBuckets}, []string{"outcome"})
	m.fsmApply = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "garrison_fsm_apply_batch_duration_seconds", Help: "Time to apply one batch of committed entries to the state.",
		Buckets: latencyBuckets})
	m.fsmBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "garrison_fsm_apply_batch_entries", Help: "Entries per applied batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10)})
	m.snapshots = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "garrison_raft_snapshot_duration_seconds", Help: "Time to persist a Raft snapshot of the state.",
		Buckets: prometheus.ExponentialBuckets(.01, 4, 8)})
	m.snapshotBytes = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "garrison_raft_snapshot_bytes", Help: "Size of the last Raft snapshot persisted."})
	m.leaderChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "garrison_raft_leader_changes_total", Help: "Times this node saw the leader change."})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "garrison_logins_total", Help: "Logins by method (password, cert, ext-jwt; oidc- when through /oidc) and outcome (success, refused, error)."},
		[]string{"method", "outcome"})
	m.tokenGrants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "garrison_oauth_token_requests_total", Help: "OAuth token endpoint requests by grant type and outcome."},
		[]string{"grant", "outcome"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "garrison_lockouts_total", Help: "Identities locked by failed logins counted through this node."})
	m.reg.MustRegister(m.httpRequests, m.writes, m.readBarriers, m.fsmApply, m.fsmBatch, m.snapshots, m.snapshotBytes,
		m.leaderChanges, m.logins, m.tokenGrants, m.lockouts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Gauge registers a gauge read from fn at every scrape.
func (m *Metrics) Gauge(name, help string, fn func() float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// GaugeVec registers gauges with one label, whose values fn reads at
// every scrape (label value → value).
func (m *Metrics) GaugeVec(name, help, label string, fn func() map[string]float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg.MustRegister(&vecFunc{desc: prometheus.NewDesc(name, help, []string{label}, nil), fn: fn})
}

// Counter registers a counter read from fn at every scrape (a total kept
// elsewhere, such as bbolt's).
func (m *Metrics) Counter(name, help string, fn func() float64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, fn))
}

type vecFunc struct {
	desc *prometheus.Desc
	fn   func() map[string]float64
}

func (v *vecFunc) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *vecFunc) Collect(ch chan<- prometheus.Metric) {
	for label, value := range v.fn() {
		ch <- prometheus.MustNewConstMetric(v.desc, prometheus.GaugeValue, value, label)
	}
}

// ObserveHTTP records one API request.
func (m *Metrics) ObserveHTTP(api, route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(api, route, method, strconv.Itoa(code)).Observe(d.Seconds())
}

// ObserveWrite records one replicated write.
func (m *Metrics) ObserveWrite(forwarded bool, err error, d time.Duration) {
	if m == nil {
		return
	}
	via := "leader"
	if forwarded {
		via = "forwarded"
	}
	m.writes.WithLabelValues(via, outcome(err)).Observe(d.Seconds())
}

// ObserveReadBarrier records one read barrier.
func (m *Metrics) ObserveReadBarrier(err error, d time.Duration) {
	if m == nil {
		return
	}
	m.readBarriers.WithLabelValues(outcome(err)).Observe(d.Seconds())
}

// ObserveApplyBatch records one batch applied to the state.
func (m *Metrics) ObserveApplyBatch(entries int, d time.Duration) {
	if m == nil {
		return
	}
	m.fsmApply.Observe(d.Seconds())
	m.fsmBatch.Observe(float64(entries))
}

// ObserveSnapshot records one persisted Raft snapshot.
func (m *Metrics) ObserveSnapshot(bytes int64, d time.Duration) {
	if m == nil {
		return
	}
	m.snapshots.Observe(d.Seconds())
	m.snapshotBytes.Set(float64(bytes))
}

// LeaderChanged counts a change of leader seen by this node.
func (m *Metrics) LeaderChanged() {
	if m == nil {
		return
	}
	m.leaderChanges.Inc()
}

// Login counts a login.
func (m *Metrics) Login(method, outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(method, outcome).Inc()
}

// TokenRequest counts a request of the OAuth token endpoint.
func (m *Metrics) TokenRequest(grant, outcome string) {
	if m == nil {
		return
	}
	m.tokenGrants.WithLabelValues(grant, outcome).Inc()
}

// Lockout counts an identity locked by a failed login counted here.
func (m *Metrics) Lockout() {
	if m == nil {
		return
	}
	m.lockouts.Inc()
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
