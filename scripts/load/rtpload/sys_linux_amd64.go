package main

// System call numbers of linux/amd64.
const (
	sysRecvmmsg = 299
	sysSendmmsg = 307
)
