package main

// System call numbers of linux/arm64.
const (
	sysRecvmmsg = 243
	sysSendmmsg = 269
)
