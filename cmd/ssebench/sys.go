package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// raiseNoFile lifts this process's soft open-file limit to its hard limit and returns it.
// Children started afterwards inherit it.
func raiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// procStat is what /proc says about a process.
type procStat struct {
	RSS int64         // bytes
	CPU time.Duration // utime + stime
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports for this tool.
const clockTicks = 100

func readProc(pid int) (procStat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may contain spaces; fields after it are plain.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15, rss (pages) 24.
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	return procStat{
		RSS: rss * int64(os.Getpagesize()),
		CPU: time.Duration(utime+stime) * time.Second / clockTicks,
	}, nil
}

// readProcs sums the stats of several processes (instances of one server).
func readProcs(pids []int) (procStat, error) {
	var sum procStat
	for _, pid := range pids {
		s, err := readProc(pid)
		if err != nil {
			return sum, err
		}
		sum.RSS += s.RSS
		sum.CPU += s.CPU
	}
	return sum, nil
}

// ipBindAddressNoPort (IP_BIND_ADDRESS_NO_PORT) lets the kernel pick the source port at
// connect time, per destination, rather than at bind time: with it every source address
// gives a full ephemeral port range to each server port instead of one range overall.
const ipBindAddressNoPort = 24

// dialer returns a dialer whose connections come from source address src (127.0.0.x).
func dialer(src string) *net.Dialer {
	d := &net.Dialer{Timeout: 30 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// sourceAddr is the source address of the i-th connection: perAddr connections on each of
// 127.0.0.2, 127.0.0.3, ...
func sourceAddr(i, perAddr int) string {
	n := 2 + i/perAddr
	return fmt.Sprintf("127.0.%d.%d", n/256, n%256)
}

// isLoopback refuses any target outside 127.0.0.0/8: the tool only ever loads this machine.
func isLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback() && ip.To4() != nil
}
