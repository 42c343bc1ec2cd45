// Package e2e tests the service as it is run: the built binary, started from a config file,
// several instances sharing one real Redis, driven over HTTP and signals.
package e2e
