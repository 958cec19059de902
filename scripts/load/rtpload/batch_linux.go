package main

import (
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The tool sends and receives tens of thousands of packets a second on two sockets: it
// batches them with sendmmsg and recvmmsg, so that its own CPU stays small next to the
// relay's and its timestamps stay honest.

// mmsghdr is struct mmsghdr of linux: a msghdr and the length the kernel filled in.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// batch is a set of message buffers for one socket.
type batch struct {
	msgs  []mmsghdr
	iovs  []syscall.Iovec
	addrs []syscall.RawSockaddrInet4
	bufs  [][]byte
	oob   [][cmsgLen]byte // receive batches: each message's control data (its timestamp)
}

// cmsgLen holds one SCM_TIMESTAMPNS control message: a cmsghdr and a timespec.
const cmsgLen = syscall.SizeofCmsghdr + 16

func newBatch(n, size int) *batch {
	b := &batch{msgs: make([]mmsghdr, n), iovs: make([]syscall.Iovec, n), addrs: make([]syscall.RawSockaddrInet4, n), bufs: make([][]byte, n), oob: make([][cmsgLen]byte, n)}
	for i := range n {
		b.bufs[i] = make([]byte, size)
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(size)
		b.msgs[i].hdr.Iov = &b.iovs[i]
		b.msgs[i].hdr.Iovlen = 1
		b.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.addrs[i]))
		b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
	}
	return b
}

// setTo sets message i's destination and length.
func (b *batch) setTo(i int, to netip.AddrPort, n int) {
	a := &b.addrs[i]
	a.Family = syscall.AF_INET
	a.Addr = to.Addr().As4()
	p := (*[2]byte)(unsafe.Pointer(&a.Port))
	p[0], p[1] = byte(to.Port()>>8), byte(to.Port())
	b.iovs[i].SetLen(n)
	b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
}

// stampTimes asks the kernel to stamp every packet c receives with the time it arrived
// (SO_TIMESTAMPNS, wall clock): the time the relay handed it to the loopback, which the
// tool's own scheduling cannot delay.
func stampTimes(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// arrived is the kernel's arrival time of message i after a receive, in Unix
// nanoseconds; 0 if it carries none.
func (b *batch) arrived(i int) int64 {
	if b.msgs[i].hdr.Controllen < cmsgLen {
		return 0
	}
	o := &b.oob[i]
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&o[0]))
	if h.Level != syscall.SOL_SOCKET || h.Type != syscall.SCM_TIMESTAMPNS {
		return 0
	}
	ts := (*syscall.Timespec)(unsafe.Pointer(&o[syscall.SizeofCmsghdr]))
	return ts.Nano()
}

// from is message i's source after a receive.
func (b *batch) from(i int) netip.AddrPort {
	a := &b.addrs[i]
	p := (*[2]byte)(unsafe.Pointer(&a.Port))
	return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
}

var (
	sendErrors  atomic.Int64
	lastSendErr atomic.Value
)

// sendBatch sends the first n messages of b on c.
func sendBatch(c *net.UDPConn, b *batch, n int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	sent := 0
	for sent < n {
		_ = rc.Write(func(fd uintptr) bool {
			r, _, errno := syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&b.msgs[sent])), uintptr(n-sent), syscall.MSG_DONTWAIT, 0, 0)
			if errno == syscall.EAGAIN {
				return false
			}
			if errno != 0 {
				sendErrors.Add(1)
				lastSendErr.Store(errno.Error())
				sent++ // skip the message that failed; the receiver counts it lost
				return true
			}
			sent += int(r)
			return true
		})
	}
}

// recvBatch waits for packets on c and returns how many it read into b.
func recvBatch(c *net.UDPConn, b *batch) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	for i := range b.msgs {
		b.iovs[i].SetLen(len(b.bufs[i]))
		b.msgs[i].hdr.Namelen = syscall.SizeofSockaddrInet4
		b.msgs[i].hdr.Control = &b.oob[i][0]
		b.msgs[i].hdr.SetControllen(cmsgLen)
	}
	err = rc.Read(func(fd uintptr) bool {
		r, _, errno := syscall.Syscall6(sysRecvmmsg, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EAGAIN {
			return false
		}
		if errno != 0 {
			return true
		}
		got = int(r)
		return true
	})
	return got, err
}
