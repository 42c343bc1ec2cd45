//go:build !linux

package hangup

import "net"

func watchPolled(net.Conn, func()) (func(), bool) { return nil, false }
