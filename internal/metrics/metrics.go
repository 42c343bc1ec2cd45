// Package metrics holds the service's Prometheus collectors. They are registered once per
// process and served by the DevServer's /metrics. The lag histogram has buckets for
// streaming (milliseconds up to seconds), unlike go-zero's request histogram whose top bucket
// of one second would put every stream in +Inf. Names follow Prometheus's conventions: the
// sse_ namespace, base units in the name (seconds), _total on counters.
package metrics

import "github.com/prometheus/client_golang/prometheus"

const namespace = "sse"

var (
	OpenStreams = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "open_streams",
		Help: "SSE streams currently open on this instance.",
	})
	Published = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_published_total",
		Help: "Events published through this instance.",
	})
	Delivered = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "events_delivered_total",
		Help: "Events written to subscribers of this instance (one per subscriber and event); a stream adds its own at most once a second, and when it ends.",
	})
	SlowDisconnects = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "slow_consumer_disconnects_total",
		Help: "Streams ended because their subscriber could not keep up.",
	})
	Resets = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "resets_total",
		Help: "Reset events sent because a resume position was older than the kept history.",
	}, []string{"reason"})
	Recoveries = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "pubsub_recoveries_total",
		Help: "Times a gap in pub/sub delivery was filled from a topic's stream.",
	})
	Refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "stream_refusals_total",
		Help: "Stream opens refused for a passing reason, answered so that browsers retry, by code.",
	}, []string{"code"})
	StreamsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "streams_ended_total",
		Help: "Streams ended, by reason: client_gone, shutdown, credential_expired, slow_consumer, write_timeout, done, error, panic.",
	}, []string{"reason"})
	Shed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "shed_requests_total",
		Help: "Plain requests refused by load shedding (stream opens are never shed).",
	})
	StreamPanics = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "stream_panics_total",
		Help: "Streams ended by a panic in their logic (the process goes on).",
	})
	RecoveryFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "pubsub_recovery_failures_total",
		Help: "Reads of a topic's position or missed events from Redis that failed; each is retried after a delay.",
	})
	RecoveryRetries = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "pubsub_recovery_retries_total",
		Help: "Reads of a topic's position or missed events retried after a failure.",
	})
	ControlMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "control_messages_total",
		Help: "Disconnects and revocations of other instances taken, by how: live (the control channel), replayed (its log, after the channel was down), duplicate (heard again, ignored).",
	}, []string{"how"})
	ControlCatchUps = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "control_catch_ups_total",
		Help: "Replays of the control log, at start and after every resubscription to the control channel.",
	})
	// DeliveryLag is added to by Deliveries, a stream at a time.
	DeliveryLag = newLagHistogram(prometheus.BuildFQName(namespace, "", "delivery_lag_seconds"),
		"Time from an event's append in Redis to its write to a subscriber.")
)

// all are the collectors the service registers.
var all = []prometheus.Collector{OpenStreams, Published, Delivered, SlowDisconnects, Resets, Recoveries,
	RecoveryFailures, RecoveryRetries, Refusals, StreamsEnded, Shed, StreamPanics, DeliveryLag, redisMetrics,
	WatchedKeys, KeyNotifications, KeyEvents, KeyReads, KeyErrors, KeyLinkUp, ControlMessages, ControlCatchUps}

func init() {
	prometheus.MustRegister(all...)
}
