// Command ssebench measures sse-api under load on this machine, next to a bare net/http SSE
// server (the floor) measured in the same run, and prints sse-api's figures as ratios of it.
//
//	go build -o /tmp/sse-api . && go build -o /tmp/ssebench ./cmd/ssebench
//	/tmp/ssebench run -bin /tmp/sse-api -scenario idle   -n 19000
//	/tmp/ssebench run -bin /tmp/sse-api -scenario fanout -n 10000 -rate 20 -duration 60s
//	/tmp/ssebench run -bin /tmp/sse-api -scenario topics -n 15000 -rate 5000 -duration 60s
//	/tmp/ssebench run -bin /tmp/sse-api -scenario qr     -n 15000
//	/tmp/ssebench run -bin /tmp/sse-api -scenario publish -duration 20s
//	/tmp/ssebench run -bin /tmp/sse-api -scenario watch  -n 15000
//	/tmp/ssebench run -bin /tmp/sse-api -scenario deploy -n 10000
//
// Subcommands: run (the orchestrator), ref (the reference server), worker (holds streams for
// run; started by it), legacy (the polling endpoint of the watch scenario's baseline). Everything talks to loopback only, and every run is bounded by
// -timeout and stops by itself. See "Load tests" in README.md.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		os.Exit(runMain(os.Args[2:]))
	case "ref":
		runRef(os.Args[2:])
	case "worker":
		runWorker()
	case "legacy":
		runLegacy(os.Args[2:])
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  ssebench run -scenario idle|fanout|topics|qr|publish|watch|deploy [flags]   (ssebench run -h lists them)
  ssebench ref -listen 127.0.0.1:PORT                           the bare reference server`)
	os.Exit(2)
}
