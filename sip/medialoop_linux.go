package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// RTP sockets are raw non-blocking UDP sockets that Go's network poller never sees. A
// mediaLoop waits for all of its sockets at once on an epoll set of its own, and that
// set is the one descriptor it parks on in Go's poller: a burst of packets on many legs
// costs one goroutine wake-up, then one recvfrom and one sendto each. With a goroutine
// per socket every packet woke a goroutine and ended in a recvfrom that found nothing;
// on a relay carrying hundreds of calls on one core that was a fifth of its CPU and the
// queueing behind it.
//
// The loop's system calls never block (MSG_DONTWAIT, epoll_wait without a timeout), so
// they are raw: the runtime is not told of them, and its monitor does not hand the P to
// another thread while a sendto delivers a packet, which with one P cost a quarter of
// the relay's CPU in thread switches (docs/BENCHMARKS.md).

// rtpSock is one RTP port: a bound, non-blocking UDP socket.
type rtpSock struct {
	fd    int
	inet6 bool           // AF_INET6: IPv4 peers are sent to as v4-mapped addresses
	local netip.AddrPort // the address it is bound to
}

// listenRTP binds a UDP socket to addr.
func listenRTP(addr netip.AddrPort) (*rtpSock, error) {
	ip := addr.Addr().Unmap()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}
	} else {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		sa = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen udp %v: %w", addr, os.NewSyscallError("bind", err))
	}
	port := addr.Port()
	if port == 0 { // the kernel's choice
		bound, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("getsockname", err)
		}
		switch sa := bound.(type) {
		case *unix.SockaddrInet4:
			port = uint16(sa.Port)
		case *unix.SockaddrInet6:
			port = uint16(sa.Port)
		}
	}
	return &rtpSock{fd: fd, inet6: family == unix.AF_INET6, local: netip.AddrPortFrom(ip, port)}, nil
}

// recvFrom reads one datagram into buf without waiting; unix.EAGAIN when none is queued.
// It allocates nothing and never blocks (a raw system call).
func (s *rtpSock) recvFrom(buf []byte) (int, netip.AddrPort, error) {
	var rsa unix.RawSockaddrAny
	l := uint32(unix.SizeofSockaddrAny)
	n, _, errno := syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l)))
	if errno != 0 {
		return 0, netip.AddrPort{}, errno
	}
	var from netip.AddrPort
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), ntohs(a.Port))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), ntohs(a.Port))
	}
	return int(n), from, nil
}

var errAddrFamily = errors.New("rtp: address family does not match the socket's")

// sendTo sends p to to without waiting. It allocates nothing and never blocks (a raw
// system call).
func (s *rtpSock) sendTo(p []byte, to netip.AddrPort) error {
	var (
		a4    unix.RawSockaddrInet4
		a6    unix.RawSockaddrInet6
		sa    unsafe.Pointer
		salen uintptr
	)
	if ip := to.Addr().Unmap(); !s.inet6 {
		if !ip.Is4() {
			return errAddrFamily
		}
		a4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(to.Port()), Addr: ip.As4()}
		sa, salen = unsafe.Pointer(&a4), unix.SizeofSockaddrInet4
	} else {
		a6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(to.Port()), Addr: ip.As16()} // IPv4: v4-mapped
		sa, salen = unsafe.Pointer(&a6), unix.SizeofSockaddrInet6
	}
	_, _, errno := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)),
		unix.MSG_DONTWAIT, uintptr(sa), salen)
	if errno != 0 {
		return errno
	}
	return nil
}

func (s *rtpSock) close() error { return unix.Close(s.fd) }

// htons is port p in network byte order, as the kernel's socket addresses hold it.
func htons(p uint16) uint16 {
	b := [2]byte{byte(p >> 8), byte(p)}
	return *(*uint16)(unsafe.Pointer(&b))
}

// ntohs is the port a socket address holds in network byte order.
func ntohs(p uint16) uint16 {
	b := *(*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// mediaLoop reads the RTP sockets of its streams: one goroutine, one epoll set.
type mediaLoop struct {
	epfd *os.File        // the epoll set, parked on in Go's poller
	rc   syscall.RawConn // epfd's, for epoll_ctl and the loop's reads

	mu      sync.Mutex // held while packets are handled, so remove waits for them
	streams map[int32]*stream
	closed  bool

	closeOnce sync.Once
	done      chan struct{}
}

func newMediaLoop() (*mediaLoop, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os makes it pollable: its readiness is the set's.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	l := &mediaLoop{epfd: os.NewFile(uintptr(fd), "rtp-epoll"), streams: map[int32]*stream{}, done: make(chan struct{})}
	if l.rc, err = l.epfd.SyscallConn(); err != nil {
		l.epfd.Close()
		return nil, err
	}
	go l.run()
	return l, nil
}

// add starts reading s's socket.
func (l *mediaLoop) add(s *stream) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("rtp: media loop closed")
	}
	fd := s.sock.fd
	if err := l.ctl(unix.EPOLL_CTL_ADD, fd); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	l.streams[int32(fd)] = s
	return nil
}

// remove stops reading s's socket; once it returns the loop does not touch s again.
func (l *mediaLoop) remove(s *stream) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fd := s.sock.fd
	if l.streams[int32(fd)] == s {
		delete(l.streams, int32(fd))
		_ = l.ctl(unix.EPOLL_CTL_DEL, fd)
	}
}

// barrier returns once the packets the loop is handling now are handled: after it, a
// change made before it (a tap removed) is seen by every packet.
func (l *mediaLoop) barrier() {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.closed // held only to wait for the loop
}

func (l *mediaLoop) ctl(op, fd int) error {
	var err error
	cerr := l.rc.Control(func(epfd uintptr) {
		err = unix.EpollCtl(int(epfd), op, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)})
	})
	return errors.Join(cerr, err)
}

// close stops the loop; streams still added are left to their own close.
func (l *mediaLoop) close() {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.epfd.Close() // wakes the parked loop
		<-l.done
	})
}

// epollPoll is epoll_wait without waiting (a raw system call): how many of events it
// filled.
func epollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// run handles ready sockets until the loop is closed. Sockets are level-triggered and
// each wait reads one packet per ready socket, so that a busy leg cannot starve the
// others; when the set has nothing ready the goroutine parks until it has.
func (l *mediaLoop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, 256)
	var rx rxScratch
	_ = l.rc.Read(func(epfd uintptr) bool {
		for {
			n, err := epollPoll(int(epfd), events)
			switch {
			case err == unix.EINTR:
				continue
			case err != nil:
				return true
			case n == 0:
				return false // park until the set is readable
			}
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				return true
			}
			for _, ev := range events[:n] {
				s := l.streams[ev.Fd]
				if s == nil {
					continue
				}
				m, from, err := s.sock.recvFrom(rx.buf[:])
				if err != nil {
					continue // EAGAIN (another reader was first) or an ICMP error: next round
				}
				s.receive(rx.buf[:m], from, &rx)
			}
			l.mu.Unlock()
		}
	})
}
