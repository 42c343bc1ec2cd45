package main

import "time"

// topics spreads the publishes over N topics with one subscriber each.
var topicsScenario = scenario{n: 15000, rate: 5000, duration: 60 * time.Second, pubConns: 64,
	measure: measureStreams(func(o options) streamPlan { return publishing(o, o.n) })}
