package backends

// serverKeywords holds the server-line keywords the runtime path can read,
// with the number of arguments each takes. A server line with a keyword
// missing here cannot be read safely (a keyword's argument could look like
// "weight"), so a change to it reloads.
var serverKeywords = map[string]int{
	// HAProxy 2.6's "add server" accepts these (management.txt, "add
	// server"); addable below lists them.
	"agent-check": 0, "allow-0rtt": 0, "backup": 0, "check": 0,
	"check-send-proxy": 0, "check-ssl": 0, "check-via-socks4": 0,
	"disabled": 0, "enabled": 0,
	"force-sslv3": 0, "force-tlsv10": 0, "force-tlsv11": 0, "force-tlsv12": 0, "force-tlsv13": 0,
	"no-ssl-reuse": 0, "no-sslv3": 0, "no-tlsv10": 0, "no-tlsv11": 0, "no-tlsv12": 0, "no-tlsv13": 0,
	"no-tls-tickets": 0, "send-proxy": 0, "send-proxy-v2": 0, "send-proxy-v2-ssl": 0,
	"send-proxy-v2-ssl-cn": 0, "ssl": 0, "tfo": 0, "tls-tickets": 0,

	"addr": 1, "agent-addr": 1, "agent-inter": 1, "agent-port": 1, "agent-send": 1,
	"alpn": 1, "ca-file": 1, "check-alpn": 1, "check-proto": 1, "check-sni": 1,
	"ciphers": 1, "ciphersuites": 1, "crl-file": 1, "crt": 1, "downinter": 1,
	"error-limit": 1, "fall": 1, "fastinter": 1, "id": 1, "inter": 1, "maxconn": 1,
	"maxqueue": 1, "minconn": 1, "npn": 1, "observe": 1, "on-error": 1,
	"on-marked-down": 1, "on-marked-up": 1, "pool-low-conn": 1, "pool-max-conn": 1,
	"pool-purge-delay": 1, "port": 1, "proto": 1, "proxy-v2-options": 1, "rise": 1,
	"slowstart": 1, "sni": 1, "source": 1, "ssl-max-ver": 1, "ssl-min-ver": 1,
	"track": 1, "usesrc": 1, "interface": 1, "verify": 1, "verifyhost": 1, "weight": 1, "ws": 1,

	// Readable, but "add server" refuses them in 2.6: a server line with
	// one of these can change weight, address and state at runtime but
	// cannot be added without a reload.
	"cookie": 1, "init-addr": 1, "max-reuse": 1, "namespace": 1, "redir": 1,
	"resolve-net": 1, "resolve-opts": 1, "resolve-prefer": 1, "resolvers": 1,
	"socks4": 1, "tcp-ut": 1, "log-proto": 1, "check-reuse-pool": 0,
	"no-agent-check": 0, "no-backup": 0, "no-check": 0, "no-check-ssl": 0,
	"no-send-proxy": 0, "no-send-proxy-v2": 0, "no-send-proxy-v2-ssl": 0,
	"no-send-proxy-v2-ssl-cn": 0, "no-ssl": 0, "no-tfo": 0, "no-verifyhost": 0,
	"non-stick": 0, "no-non-stick": 0, "stick": 0,
}

// addable is the subset of serverKeywords that HAProxy 2.6's "add server"
// accepts ("usesrc" and "interface" being clauses of "source").
var addable = setOf(
	"agent-addr", "agent-check", "agent-inter", "agent-port", "agent-send",
	"allow-0rtt", "alpn", "addr", "backup", "ca-file", "check", "check-alpn",
	"check-proto", "check-send-proxy", "check-sni", "check-ssl", "check-via-socks4",
	"ciphers", "ciphersuites", "crl-file", "crt", "disabled", "downinter", "enabled",
	"error-limit", "fall", "fastinter",
	"force-sslv3", "force-tlsv10", "force-tlsv11", "force-tlsv12", "force-tlsv13",
	"id", "inter", "maxconn", "maxqueue", "minconn", "no-ssl-reuse",
	"no-sslv3", "no-tlsv10", "no-tlsv11", "no-tlsv12", "no-tlsv13",
	"no-tls-tickets", "npn", "observe", "on-error", "on-marked-down",
	"on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port",
	"proto", "proxy-v2-options", "rise", "send-proxy", "send-proxy-v2",
	"send-proxy-v2-ssl", "send-proxy-v2-ssl-cn", "slowstart", "sni", "source",
	"ssl", "ssl-max-ver", "ssl-min-ver", "tfo", "tls-tickets", "track", "usesrc",
	"interface", "verify", "verifyhost", "weight", "ws",
)

func setOf(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}
