// Package faults holds no code, only tests: Redis faults (a Cluster master failed over or
// killed, a Sentinel failover, a Redis restart, the pub/sub connection killed) injected into
// real redis-server processes under two sse-api instances, while events are published and
// streamed. Each test counts the events acknowledged (publish answered 201), delivered,
// lost and duplicated on every stream, how long the service took to recover, and what it
// refused meanwhile, and prints one line per fault:
//
//	go test -race -run TestFault -v ./internal/faults/ | grep FAULT
//
// RELIABILITY.md quotes those lines.
package faults
