// Package dns answers DNS queries from the cluster's live membership, like
// Consul's DNS interface without servers:
//
//	<node>.node.<domain>                  A/AAAA, TXT (the node's tags, then its
//	                                      maintenance: "maintenance=<reason>",
//	                                      "maintenance:<service id>=<reason>")
//	<service>.service.<domain>            A/AAAA, SRV (targets' addresses in additional)
//	<tag>.<service>.service.<domain>      the same, for instances with the tag
//	_<service>._<tag|tcp>.service.<domain> RFC 2782 form of the above
//	<hex>.addr.<domain>                   A (8 hex digits) or AAAA (32): the address spelled
//	<domain>                              SOA, NS
//	reverse names of member addresses     PTR
//
// With an alt domain every name above is answered under it too, naming
// the domain asked in every record (Consul's alt_domain).
//
// Only alive and suspect members are answered. Service names answer the
// instances whose health (the worst of the instance's and its member's)
// is passing or warning, passing only with Config.OnlyPassing, never
// critical or maintenance; a name with no such instance does not exist
// (NXDOMAIN, as in Consul). Each instance has its own SRV record with its
// own port; one with an address of its own is answered at that address,
// its SRV target the .addr. name that spells it. Among the healthy
// instances, suspect members are left out unless all of them are suspect
// (see withoutSuspects). The records are built once per
// membership change into an immutable index that is swapped atomically,
// so a query costs a lookup, a shuffle and a pack. The index carries the
// settings it was built with, so Server.Reload swaps TTLs, caps, domains
// and recursors the same way, on open sockets. Names outside the domains
// are refused, or forwarded to the configured recursors.
//
// What a client can hold is bounded: TCP connections (a cap, at which a
// new connection replaces the longest-idle one; read and idle timeouts;
// accept errors retried with back-off, see tcp.go) and forwarded queries
// (a bound past which they get SERVFAIL at once, see recursor.go). UDP
// queries hold nothing, so they keep being answered under those floods.
//
// The package imports only the types of package node; the agent passes a
// *node.Node as the View.
package dns
