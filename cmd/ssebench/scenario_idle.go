package main

// idle holds N quiet streams on one topic, reads RSS after -hold, then publishes -events
// probes that must reach every stream once.
var idleScenario = scenario{n: 19000, measure: measureStreams(func(o options) streamPlan {
	// One probe every 2 s: at 100,000 streams one event is most of a second of CPU.
	return streamPlan{topics: 1, hold: o.hold, rate: 0.5, count: int64(o.events)}
})}
