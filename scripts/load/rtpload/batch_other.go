//go:build !linux

package main

import (
	"net"
	"sync/atomic"
)

// rtpload sends and receives with Linux's sendmmsg and recvmmsg (batch_linux.go).
// Elsewhere it fails to build with one error:
// "undefined: rtpload_builds_on_Linux_only_it_uses_sendmmsg".

type batch = rtpload_builds_on_Linux_only_it_uses_sendmmsg

var (
	newBatch   func(n, size int) *batch
	stampTimes func(*net.UDPConn) error
	sendBatch  func(*net.UDPConn, *batch, int)
	recvBatch  func(*net.UDPConn, *batch) (int, error)
	sendErrors atomic.Int64
)
