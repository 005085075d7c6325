package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sscagent/sscagent/internal/backoff"
	rawpty "github.com/sscagent/sscagent/internal/pty"
)

// pty is the master side of a pseudo-terminal whose slave is reachable through a link.
type pty struct {
	master *os.File
	slave  string // /dev/pts/N
	link   string
}

// newPty opens a pseudo-terminal in raw mode and links link to its slave device.
func newPty(link string) (*pty, error) {
	master, slave, err := rawpty.Open()
	if err != nil {
		return nil, err
	}
	// Open and close the slave once: from then on the master polls as hung up until
	// the next program opens the slave, which is how WaitOpened sees the agent arrive.
	sfd, err := unix.Open(slave, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("pty open slave: %w", err)
	}
	unix.Close(sfd)
	_ = os.Remove(link)
	if err := os.Symlink(slave, link); err != nil {
		master.Close()
		return nil, fmt.Errorf("pty link: %w", err)
	}
	return &pty{master: master, slave: slave, link: link}, nil
}

// WaitOpened returns once a program has the slave open: until then the master polls as
// hung up, and anything written would be flushed by the agent's open anyway.
func (p *pty) WaitOpened(ctx context.Context) error {
	fds := []unix.PollFd{{Fd: int32(p.master.Fd()), Events: unix.POLLOUT}}
	for {
		fds[0].Revents = 0
		if _, err := unix.Poll(fds, 100); err != nil && err != unix.EINTR {
			return fmt.Errorf("poll pty: %w", err)
		}
		if fds[0].Revents&unix.POLLHUP == 0 {
			// The agent flushes its input right after opening: give it that moment.
			if !backoff.Sleep(ctx, openGrace) {
				return ctx.Err()
			}
			return nil
		}
		if !backoff.Sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
}

func (p *pty) Write(b []byte) (int, error) { return p.master.Write(b) }

// openGrace is how long the scanner waits after the agent opened the port before
// sending: the agent flushes stale input right after opening, and on a loaded machine that
// can take a while.
const openGrace = 500 * time.Millisecond

// drainLimit bounds how long Close waits for the agent to read what was sent.
const drainLimit = 2 * time.Second

// Close waits (up to drainLimit) until the agent has read everything written, since a
// master that closes discards the slave's unread input, then closes the master (the agent
// reads a hangup) and removes the link.
func (p *pty) Close() error {
	p.drain()
	_ = os.Remove(p.link)
	return p.master.Close()
}

// drain polls the slave's input queue until it has stayed empty for a moment (written
// bytes pass through the tty's flip buffer before the queue counts them) or drainLimit
// passes.
func (p *pty) drain() {
	fd, err := unix.Open(p.slave, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return // the slave is gone: nothing left to wait for
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(drainLimit)
	empty := 0
	for empty < 10 && time.Now().Before(deadline) {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ)
		if err != nil {
			return
		}
		if n == 0 {
			empty++
		} else {
			empty = 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}
