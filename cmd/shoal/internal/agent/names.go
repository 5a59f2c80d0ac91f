package agent

import (
	"log/slog"
	"strings"
)

// Node names may be Serf's 128 bytes, but DNS labels only 63: a name
// with a longer dot-separated label is not answered as
// <name>.node.<domain>, and package dns leaves the member's services out
// of SRV answers too, since an SRV target must be a name that resolves.

// dnsLabelsFit reports whether every dot-separated label of name is at
// most 63 bytes.
func dnsLabelsFit(name string) bool {
	for _, l := range strings.Split(name, ".") {
		if len(l) > 63 {
			return false
		}
	}
	return true
}

// warnDNSName says at start when the node's own name cannot be answered
// in DNS, so the operator learns it before a lookup fails.
func warnDNSName(name string, log *slog.Logger) {
	if !dnsLabelsFit(name) {
		log.Warn("the node name has a part longer than 63 bytes, the DNS label limit: DNS will not answer for this node or its services; use dots to split it, or a shorter name",
			"node", name)
	}
}

// warnRejoinWithoutSnapshot says, as Serf does, that rejoin_after_leave
// (-rejoin) does nothing without a snapshot to rejoin from.
func warnRejoinWithoutSnapshot(rejoin bool, snapshot string, log *slog.Logger) {
	if rejoin && snapshot == "" {
		log.Warn("rejoin_after_leave (-rejoin) is set without snapshot_path (-snapshot): there is nothing to rejoin from")
	}
}
