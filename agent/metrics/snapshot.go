package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// snapshotCollector turns a Snapshot into gauges at each scrape, so the values are
// those of the moment and nothing needs updating between scrapes.
type snapshotCollector struct{ src Source }

var (
	descQueueDepth = prometheus.NewDesc("sscagent_queue_records",
		"Records waiting in the durable queue, by lane.", []string{"lane"}, nil)
	descQueueOldest = prometheus.NewDesc("sscagent_queue_oldest_record_age_seconds",
		"Age of the oldest waiting record, by lane (0 when the lane is empty).", []string{"lane"}, nil)
	descQuarantine = prometheus.NewDesc("sscagent_queue_quarantined_records",
		"Records in quarantine (refused by the platform or undeliverable; a person decides).", nil, nil)
	descQueueFull = prometheus.NewDesc("sscagent_queue_full",
		"1 while the queue refuses new business for lack of room.", nil, nil)
	descPayments = prometheus.NewDesc("sscagent_payments_open",
		"Payment orders not final yet.", nil, nil)
	descPaymentsManual = prometheus.NewDesc("sscagent_payments_needing_person",
		"Payment orders whose outcome waits for a person (manual settlement).", nil, nil)
	descReaderUp = prometheus.NewDesc("sscagent_reader_up",
		"1 for each attached card reader.", []string{"reader"}, nil)
	descReaderCard = prometheus.NewDesc("sscagent_reader_card_present",
		"1 while a card is in the reader.", []string{"reader"}, nil)
	descPSAM = prometheus.NewDesc("sscagent_psam_usable",
		"1 while a PSAM is in its slot and answers; 0 otherwise.", nil, nil)
	descScannerUp = prometheus.NewDesc("sscagent_scanner_up",
		"1 while the scanner's device is open.", []string{"scanner"}, nil)
	descPlatformUp = prometheus.NewDesc("sscagent_platform_up",
		"1 when the last platform call got an answer.", nil, nil)
	descClock = prometheus.NewDesc("sscagent_clock_offset_seconds",
		"Clock correction learned from the platform's signed answers (platform minus local clock).", nil, nil)
	descMQTT = prometheus.NewDesc("sscagent_mqtt_connected",
		"1 while the terminal management session is connected (absent without management).", nil, nil)
	descOutbox = prometheus.NewDesc("sscagent_mqtt_outbox_messages",
		"Management messages waiting to be sent.", nil, nil)
)

// Describe implements prometheus.Collector.
func (snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueOldest, descQuarantine, descQueueFull, descPayments,
		descPaymentsManual, descReaderUp, descReaderCard, descPSAM, descScannerUp, descPlatformUp, descClock, descMQTT, descOutbox} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, lane := range sortedKeys(s.QueueDepth) {
		gauge(descQueueDepth, float64(s.QueueDepth[lane]), lane)
		gauge(descQueueOldest, s.QueueOldestSeconds[lane], lane)
	}
	gauge(descQuarantine, float64(s.Quarantined))
	gauge(descQueueFull, b2f(s.QueueFull))
	gauge(descPayments, float64(s.PaymentsOpen))
	gauge(descPaymentsManual, float64(s.PaymentsManual))
	seen := map[string]bool{}
	for _, r := range s.Readers {
		if seen[r.Name] {
			continue // two readers of one name: one series
		}
		seen[r.Name] = true
		gauge(descReaderUp, b2f(r.Up), r.Name)
		gauge(descReaderCard, b2f(r.Card), r.Name)
	}
	gauge(descPSAM, b2f(s.PSAMPresent && s.PSAMUsable))
	for _, sc := range s.Scanners {
		gauge(descScannerUp, b2f(sc.Up), sc.Name)
	}
	gauge(descPlatformUp, b2f(s.PlatformUp))
	gauge(descClock, s.ClockOffsetSeconds)
	if s.MQTTEnabled {
		gauge(descMQTT, b2f(s.MQTTConnected))
		gauge(descOutbox, float64(s.MQTTOutbox))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
