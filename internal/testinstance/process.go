package testinstance

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a child process whose output is kept in Logs.
type Process struct {
	Logs *Logs
	cmd  *exec.Cmd
	done chan struct{}
}

// NewProcess prepares cmd, sending its stdout and stderr to Logs where the caller set
// neither. Watch Logs, then Start.
func NewProcess(cmd *exec.Cmd) *Process {
	p := &Process{Logs: &Logs{}, cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.Logs
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.Logs
	}
	return p
}

// Start runs the process; Done is closed once it has exited.
func (p *Process) Start() error {
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited and its output is all in Logs.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool { return seen(p.done) }

// ExitCode is the exit code of the process once it has exited (-1 if a signal ended it),
// and -1 before.
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error {
	if p.cmd.Process == nil {
		return errors.New("process not started")
	}
	return p.cmd.Process.Signal(sig)
}

// Kill ends the process at once (like a crash: no goodbye to anyone) and waits for it.
func (p *Process) Kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop asks the process to end (SIGTERM), and kills it if it has not within grace.
func (p *Process) Stop(grace time.Duration) {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}
