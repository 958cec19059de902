// Package ssrf says which network addresses Leadline's outbound requests (the dealers'
// webhooks) may reach, so that a configuration typo, a hostile CRM's DNS or a redirect
// cannot make Leadline call into its own host or network (server-side request forgery):
// not loopback, private, link-local, shared (CGNAT), documentation, benchmarking or
// other special ranges, in IPv4 and IPv6, IPv4 inside IPv6 (mapped, NAT64, 6to4)
// included, unless private targets are allowed; never unspecified, multicast or
// broadcast addresses.
//
// config checks a literal IP in a webhook URL at load time; webhook checks every
// address it connects to, after DNS. ssrf imports nothing of Leadline.
package ssrf
