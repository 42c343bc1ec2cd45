package metrics

import "github.com/prometheus/client_golang/prometheus"

// The key watch's collectors (internal/keywatch): Redis keys other services write, read as
// topics "key:<name>".
var (
	WatchedKeys = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "keywatch_watched_keys",
		Help: "Redis keys watched on this instance (each has at least one subscriber here).",
	})
	KeyNotifications = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "keywatch_notifications_total",
		Help: "Keyspace notifications received for keys a Watch rule matches, watched here or not.",
	})
	KeyEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "keywatch_events_total",
		Help: "Events made from watched keys, by kind: state and deleted (a state key's value changed), " +
			"entry (a stream key's entry read), reset (a stream position whose entries were trimmed).",
	}, []string{"kind"})
	KeyReads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "keywatch_reads_total",
		Help: "Reads of watched keys from Redis, by rule kind (state, stream).",
	}, []string{"kind"})
	KeyErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "keywatch_errors_total",
		Help: "Key watch failures, by operation: read (a key's read failed; retried), link (a notification " +
			"link's connection failed; made again), config (a node's notify-keyspace-events could not be checked or set).",
	}, []string{"op"})
	KeyLinkUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "keywatch_link_up",
		Help: "1 while the keyspace-notification link to a node has every rule's pattern subscription confirmed, else 0.",
	}, []string{"node"})
)
