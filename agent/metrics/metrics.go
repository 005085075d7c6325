// Package metrics exposes the agent's metrics in the Prometheus text format
// (docs/metrics.md) through prometheus/client_golang: counters of reads and platform
// calls the agent reports as they happen, and gauges read from a Source at each scrape
// (queue, payments, devices, links, clock). No label carries personal data: labels are
// scene, medium, outcome, operation, class, lane, device and state names from fixed
// configuration or fixed sets.
package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sscagent/sscagent/internal/config"
	"github.com/sscagent/sscagent/internal/version"
)

// Snapshot is the state the gauges show, taken at each scrape.
type Snapshot struct {
	// QueueDepth and QueueOldestSeconds are per lane.
	QueueDepth         map[string]int64
	QueueOldestSeconds map[string]float64
	Quarantined        int64
	QueueFull          bool
	// PaymentsOpen counts orders not final; PaymentsManual those waiting for a person.
	PaymentsOpen, PaymentsManual int
	// Readers and Scanners are the devices with their state.
	Readers  []Device
	Scanners []Device
	// PSAMUsable reports a PSAM that answers; PSAMPresent one in its slot.
	PSAMPresent, PSAMUsable bool
	// PlatformUp: the last platform call got an answer.
	PlatformUp bool
	// ClockOffsetSeconds is the correction learned from the platform (platform minus
	// local clock).
	ClockOffsetSeconds float64
	// MQTTEnabled, MQTTConnected and MQTTOutbox describe the management link.
	MQTTEnabled, MQTTConnected bool
	MQTTOutbox                 int
}

// Device is one reader or scanner.
type Device struct {
	Name string
	// Up: attached and usable (a scanner open, a reader present).
	Up bool
	// Card: a card is in the reader (readers only).
	Card bool
}

// Source returns the current snapshot. It must be quick and safe for concurrent use.
type Source interface {
	Snapshot() Snapshot
}

// SourceFunc adapts a function to Source.
type SourceFunc func() Snapshot

// Snapshot implements Source.
func (f SourceFunc) Snapshot() Snapshot { return f() }

// Metrics holds the agent's registry. The zero value is not usable; New makes one.
type Metrics struct {
	reg         *prometheus.Registry
	reads       *prometheus.CounterVec
	calls       *prometheus.CounterVec
	callSeconds *prometheus.HistogramVec
}

// New returns the metrics of one agent, gauges read from src at each scrape.
func New(src Source) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sscagent_reads_total",
			Help: "Card reads and e-card codes handled, by scene, medium (card, ecard) and outcome (succeeded, rejected, unknown, unverified, retryable, read_failed).",
		}, []string{"scene", "medium", "outcome"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sscagent_platform_calls_total",
			Help: "Platform calls by operation and outcome class (success, rejected, retryable, unknown, unverified).",
		}, []string{"operation", "class"}),
		callSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sscagent_platform_call_duration_seconds",
			Help:    "Duration of platform calls, from the first byte sent to the verified answer, by operation.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"operation"}),
	}
	v := version.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sscagent_build_info",
		Help:        "The agent's build: version, commit and Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": v.Version, "commit": v.Commit, "goversion": v.Go},
	})
	build.Set(1)
	m.reg.MustRegister(m.reads, m.calls, m.callSeconds, build, snapshotCollector{src},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Read counts one read of a scene with its outcome.
func (m *Metrics) Read(scene, medium, outcome string) {
	m.reads.WithLabelValues(scene, medium, outcome).Inc()
}

// Call counts one platform call and observes its duration.
func (m *Metrics) Call(operation, class string, d time.Duration) {
	m.calls.WithLabelValues(operation, class).Inc()
	m.callSeconds.WithLabelValues(operation).Observe(d.Seconds())
}

// Handler serves GET /metrics.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	return mux
}

// Config is the "metrics" section.
type Config struct {
	// Listen is the host:port of GET /metrics, e.g. 127.0.0.1:9464. Empty: off.
	Listen string `yaml:"listen"`
}

// Validate implements config.Validator.
func (c Config) Validate(path string, ps *config.Problems) {
	if c.Listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		ps.Addf(config.Join(path, "listen"), "must be host:port (e.g. 127.0.0.1:9464), got %q", c.Listen)
		return
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		ps.Addf(config.Join(path, "listen"), "host must be an IP address or localhost, got %q", host)
	}
}

// Server is the supervised part serving GET /metrics.
type Server struct {
	Addr    string
	Handler http.Handler
	// Bound, when set, is told the address listened on (a port of 0 picks one).
	Bound func(addr string)
}

// Name implements the agent's Part.
func (s *Server) Name() string { return "metrics" }

// Run listens and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if s.Bound != nil {
		s.Bound(ln.Addr().String())
	}
	hs := &http.Server{Handler: s.Handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
		return nil
	}
}
