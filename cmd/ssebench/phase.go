package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// phase is a measured phase of a scenario: the CPU time the server, the load processes and
// Redis spend in it, and with -profile a CPU profile of sse-api over it.
type phase struct {
	b                      *bench
	srv                    *server
	load                   []int
	server0, load0, redis0 procStat
	profile                sync.WaitGroup
}

// startPhase begins a phase. load are the pids of the load processes; cpuProfile asks for
// the CPU profile (taken with -profile, of sse-api, over -duration less 2 s).
func (b *bench) startPhase(srv *server, load []int, cpuProfile bool) *phase {
	p := &phase{b: b, srv: srv, load: load}
	p.server0, _ = readProcs(srv.pids)
	p.load0, _ = readProcs(load)
	p.redis0, _ = readProcs(b.redisPids())
	o := b.o
	if cpuProfile && o.profile != "" && srv.kind == "sse-api" {
		file := b.profileFile("cpu", srv)
		p.profile.Go(func() {
			if err := srv.cpuProfile(b.ctx, max(1, int(o.duration.Seconds())-2), file); err != nil {
				fmt.Fprintln(os.Stderr, "ssebench: cpu profile:", err)
			}
		})
	}
	return p
}

// end records the phase's CPU times in r, waits for the profile, and returns the server's
// figures at the end.
func (p *phase) end(r *result) procStat {
	server1, _ := readProcs(p.srv.pids)
	load1, _ := readProcs(p.load)
	redis1, _ := readProcs(p.b.redisPids())
	r.CPUSeconds = (server1.CPU - p.server0.CPU).Seconds()
	r.LoadCPUSeconds = (load1.CPU - p.load0.CPU).Seconds()
	r.RedisCPUSeconds = (redis1.CPU - p.redis0.CPU).Seconds()
	p.profile.Wait()
	return server1
}

// report records in r what pub published, over elapsed.
func (pub *publisher) report(r *result, elapsed time.Duration) {
	r.Published = pub.sent.Load()
	r.PublishErrors = pub.errs.Load()
	if s, ok := pub.lastErr.Load().(string); ok {
		r.PublishLastError = s
	}
	r.PublishPerSec = float64(r.Published) / elapsed.Seconds()
	r.PublishLat = latencyOf(pub.lat.snapshot())
}

// profileFile names a profile of srv in -profile: what, the scenario, the server (sse-api or
// sse-api@before, and its place in -servers when one repeats) and the run.
func (b *bench) profileFile(what string, srv *server) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.profiled == nil {
		b.profiled = map[string]int{}
	}
	key := what + " " + srv.name
	b.profiled[key]++
	return fmt.Sprintf("%s/%s-%s-%s-%d-%s.pb.gz", b.o.profile, what, b.o.scenario, srv.name, b.profiled[key], b.runID)
}
