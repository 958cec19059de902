//go:build !linux

package sip

import "net/netip"

// The media relay (medialoop_linux.go) is built on Linux's epoll, recvmmsg and sendmmsg,
// and has no port to other systems. Elsewhere the package fails to build with one error:
// "undefined: Leadline_builds_on_Linux_only_its_media_relay_uses_epoll".

type rtpSock = Leadline_builds_on_Linux_only_its_media_relay_uses_epoll
type mediaLoop = rtpSock

var (
	listenRTP    func(netip.AddrPort) (*rtpSock, error)
	newMediaLoop func() (*mediaLoop, error)
)
