package main

import "time"

// fanout publishes at -rate/s for -duration to N subscribers of one topic.
var fanoutScenario = scenario{n: 10000, rate: 20, duration: 60 * time.Second, pubConns: 1,
	measure: measureStreams(func(o options) streamPlan { return publishing(o, 1) })}
