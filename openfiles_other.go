//go:build !unix

package main

import "github.com/sseapi/sse-api/internal/config"

// logOpenFileLimit has nothing to read where there is no RLIMIT_NOFILE.
func logOpenFileLimit(config.Config) {}
