#!/usr/bin/env bash
# Measures how a shoal agent's UDP DNS and /v1/health answer under floods
# (issue 9), on loopback only: 2,000 held TCP DNS connections, 1,000 idle
# HTTP connections and 5,000 forwarded queries a second to a dead upstream
# (a UDP socket on 127.0.0.1 that never answers). Prints one table with a
# row per phase (baseline, flood, after) and key=value "result" lines.
#
#   bash test/pressure.sh                     # 5 s baseline, 20 s flood, 5 s after
#   bash test/pressure.sh -flood 10s
#   bash test/pressure.sh -nofile 1024        # the agent under ulimit -n 1024
#   bash test/pressure.sh -- -dns-conns 0     # flags after -- go to shoaltool pressure
#   SHOAL_BIN=/tmp/old/shoal bash test/pressure.sh   # a prebuilt agent, e.g. an older
#                                             # commit's, to compare side by side
#
# The floods come from 127.0.0.2 and the probes from 127.0.0.1, as an
# attacker is another host than the load balancer that probes /v1/health;
# `-- -flood-src 127.0.0.1` floods from the probes' own address.
# The agent's RLIMIT_NOFILE is the shell's as is unless -nofile lowers it.
# Go raises its soft limit to the hard one at start, so -nofile sets both.
set -euo pipefail
cd "$(dirname "$0")/.."

baseline=5s flood=20s after=5s nofile=""
while [[ $# -gt 0 ]]; do
	case $1 in
	-baseline) baseline=$2; shift 2 ;;
	-flood) flood=$2; shift 2 ;;
	-after) after=$2; shift 2 ;;
	-nofile) nofile=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [-baseline DUR] [-flood DUR] [-after DUR] [-nofile N] [-- shoaltool pressure flags]" >&2; exit 2 ;;
	esac
done

work=$(mktemp -d)
pids=() # agents, then the blackhole and the tool once started
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent or
# flood outlives the script.
trap 'exit 130' INT TERM

if [[ -n ${SHOAL_BIN:-} ]]; then
	cp "$SHOAL_BIN" "$work/shoal"
else
	go build -o "$work/shoal" ./cmd/shoal
fi
go build -o "$work/shoaltool" ./test/shoaltool

# waitfor FILE PATTERN PID WHAT: polls FILE for PATTERN for up to 30 s.
waitfor() {
	for _ in $(seq 1 300); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1 # polling a log for a line
	done
	echo "$4 did not start:" >&2
	cat "$1" >&2
	exit 1
}

# The dead upstream: held by the tool, on loopback, never answering.
"$work/shoaltool" blackhole -addr 127.0.0.1:0 >"$work/blackhole.log" 2>&1 &
blackhole=$!
pids+=("$blackhole")
waitfor "$work/blackhole.log" '^addr ' "$blackhole" "blackhole"
upstream=$(awk '/^addr / {print $2}' "$work/blackhole.log")
cat >"$work/a.hcl" <<HCL
dns {
  recursors = ["$upstream"]
}
HCL

key=$("$work/shoal" keygen)
# start NAME ARGS...: runs an agent on ephemeral loopback ports (lowering
# its RLIMIT_NOFILE if asked) and waits until it logs "agent running".
start() {
	local name=$1
	shift
	(
		[[ -n $nofile ]] && ulimit -n "$nofile"
		exec "$work/shoal" agent -node "$name" -bind 127.0.0.1:0 -http-addr 127.0.0.1:0 \
			-dns-addr 127.0.0.1:0 -encrypt "$key" "$@"
	) >"$work/$name.log" 2>&1 &
	pids+=($!)
	waitfor "$work/$name.log" 'msg="agent running"' "$!" "agent $name"
}
field() { grep 'msg="agent running"' "$work/$1.log" | grep -o "$2=[^ ]*" | cut -d= -f2; }

start a -config-file "$work/a.hcl"
agent=${pids[-1]}
start b -join "$(field a gossip_addr)" -service web:8080
echo "agent a: pid $agent, dns $(field a dns_addr), http $(field a http_addr), recursor $upstream (dead)," \
	"$(awk '/Max open files/ {print "RLIMIT_NOFILE soft " $4 " hard " $5}' "/proc/$agent/limits")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

"$work/shoaltool" pressure -dns "$(field a dns_addr)" -http "$(field a http_addr)" -pid "$agent" \
	-baseline "$baseline" -flood "$flood" -after "$after" "$@" &
tool=$!
pids+=("$tool")
status=0
wait "$tool" || status=$?
kill -TERM "$blackhole"
wait "$blackhole" || true
grep received "$work/blackhole.log" || true
if ! kill -0 "$agent" 2>/dev/null; then
	echo "agent a exited during the run:" >&2
	tail -20 "$work/a.log" >&2
	status=1
fi
echo "agent a log, WARN and ERROR lines by message:"
grep -E 'level=(WARN|ERROR)' "$work/a.log" | grep -o 'level=[A-Z]* msg="[^"]*"' | sed -E 's/[0-9]+/N/g' |
	sort | uniq -c || echo "  none"
exit "$status"
