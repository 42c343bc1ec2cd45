//go:build unix

package main

import (
	"syscall"

	"github.com/zeromicro/go-zero/core/logx"

	"github.com/sseapi/sse-api/internal/config"
)

// openFilesMargin is what the process holds open besides its connections: Redis pools,
// listeners, the DevServer, logs.
const openFilesMargin = 200

// logOpenFileLimit says how many files the process may open. Every connection is one, so
// the limit bounds the streams an instance can hold whatever Limits.MaxStreams says; past
// it, accepting fails. Go raises the soft limit to the hard one at start, so the hard limit
// (the container runtime's, in Kubernetes) is what counts.
func logOpenFileLimit(c config.Config) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logx.Errorf("open files: cannot read the limit: %v", err)
		return
	}
	need := uint64(max(c.MaxConns, c.Limits.MaxStreams) + openFilesMargin)
	if lim.Cur < need {
		logx.Errorf("open files: limit %d, below MaxConns/Limits.MaxStreams (%d) plus %d: "+
			"streams past it will be refused; raise the hard limit (ulimit -Hn, the container runtime's LimitNOFILE)",
			lim.Cur, need-openFilesMargin, openFilesMargin)
		return
	}
	logx.Infof("open files: limit %d (MaxConns %d, Limits.MaxStreams %d)", lim.Cur, c.MaxConns, c.Limits.MaxStreams)
}
