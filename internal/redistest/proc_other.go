//go:build !linux

package redistest

import "syscall"

// sysProcAttr: outside Linux a server is killed on its own by Process.Kill.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(int) {}
