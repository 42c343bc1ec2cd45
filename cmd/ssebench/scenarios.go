package main

import "time"

// A scenario is one value of -scenario: the defaults of the flags it reads, and how it
// measures one server (scenario_*.go).
type scenario struct {
	// Defaults for these flags when they are left at zero.
	n        int
	rate     float64
	duration time.Duration
	pubConns int
	// apiOnly: sse-api alone is measured (the reference server has no QR login).
	apiOnly bool
	// redisArgs are more arguments of the private redis-server; config, YAML appended to
	// the sse-api config.
	redisArgs []string
	config    string
	measure   func(b *bench, srv *server) ([]result, error)
}

var scenarios = map[string]scenario{
	"idle":    idleScenario,
	"fanout":  fanoutScenario,
	"topics":  topicsScenario,
	"qr":      qrScenario,
	"publish": publishScenario,
	"watch":   watchScenario,
	"deploy":  deployScenario,
}

// one makes a measure of a run that has one result, and shows the server's error lines
// when that result counts errors.
func one(run func(b *bench, srv *server) (result, error)) func(*bench, *server) ([]result, error) {
	return func(b *bench, srv *server) ([]result, error) {
		r, err := run(b, srv)
		if err != nil {
			return nil, err
		}
		b.logsOnErrors(srv, r)
		return []result{r}, nil
	}
}
