#!/usr/bin/env bash
# Measure shoal's DNS server against a bare Go UDP responder with dnsperf,
# on loopback, in the same run, and print both QPS and their ratio.
#   test/dnsperf.sh [seconds per run, default 10]
# EDNS=0 sends queries without EDNS0, so large answers take the 512-byte
# truncation path; by default queries carry EDNS0, as resolvers' do.
# Fair by construction: both servers get the same dnsperf command (query
# file, 8 clients, 200 outstanding, EDNS setting), the same socket layout
# (see test/dnsbench), and alternate runs.
set -euo pipefail

secs=${1:-10}
edns=(-e)
[[ ${EDNS:-1} == 0 ]] && edns=()
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
	if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent outlives the script.
trap 'exit 130' INT TERM

command -v dnsperf >/dev/null || { echo "dnsperf not installed (apt-get install dnsperf)" >&2; exit 1; }
(cd "$root" && go build -o "$work/dnsbench" ./test/dnsbench)

# A mix of what clients ask: node addresses, service addresses, SRV with
# additional records, tags, RFC 2782 names, and misses.
{
	for i in 00 03 07 11 19; do echo "node-$i.node.shoal A"; done
	echo "web.service.shoal A"
	echo "api.service.shoal A"
	echo "web.service.shoal SRV"
	echo "v1.web.service.shoal SRV"
	echo "_api._tcp.service.shoal SRV"
	echo "node-05.node.shoal TXT"
	echo "nobody.node.shoal A"
} >"$work/queries"

# run MODE: start dnsbench in MODE, run dnsperf against it, print the QPS.
run() {
	"$work/dnsbench" -mode "$1" >"$work/$1.addr" 2>"$work/$1.err" &
	pid=$!
	local addr=""
	for _ in $(seq 100); do # until the server prints its address
		addr=$(awk '/^addr/ {print $2}' "$work/$1.addr")
		[[ -n $addr ]] && break
		kill -0 "$pid" 2>/dev/null || { cat "$work/$1.err" >&2; exit 1; }
		sleep 0.1 # polling for the address line
	done
	[[ -n $addr ]] || { echo "dnsbench -mode $1 did not start" >&2; exit 1; }
	dnsperf -s "${addr%:*}" -p "${addr##*:}" -d "$work/queries" -l "$secs" -c 8 -q 200 -t 2 "${edns[@]}" \
		>"$work/$1.out" 2>&1 || true
	kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
	local qps lost
	qps=$(awk '/Queries per second/ {print $4}' "$work/$1.out")
	lost=$(awk '/Queries lost/ {print $3}' "$work/$1.out")
	[[ -n $qps ]] || { cat "$work/$1.out" >&2; exit 1; }
	echo "$1: lost $lost queries" >&2
	echo "$qps"
}

# Alternate two half-length rounds so that load from other processes on a
# shared machine weighs on both servers alike.
half=$(( (secs + 1) / 2 ))
secs=$half
s1=$(run shoal); b1=$(run bare); b2=$(run bare); s2=$(run shoal)
shoal=$(awk -v a="$s1" -v b="$s2" 'BEGIN {printf "%.0f", (a + b) / 2}')
bare=$(awk -v a="$b1" -v b="$b2" 'BEGIN {printf "%.0f", (a + b) / 2}')
secs=$(( 2 * half ))
ratio=$(awk -v a="$shoal" -v b="$bare" 'BEGIN {printf "%.1f", 100 * a / b}')
echo "queries: $(wc -l <"$work/queries") names, EDNS0 ${EDNS:-1}, ${secs}s each, $(nproc) CPUs"
echo "shoal dns: $shoal QPS"
echo "bare udp:  $bare QPS"
echo "ratio:     $ratio% of the bare responder (goal >= 80%)"
