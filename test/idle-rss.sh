#!/usr/bin/env bash
# Measures the resident memory (VmRSS) of idle shoal agents in a 3-node
# cluster on loopback. Goal: at most 10 MB per agent (Serf's agent: ~18 MB).
#
#   bash test/idle-rss.sh            # settle 15 s, then measure
#   SETTLE=60 bash test/idle-rss.sh  # settle longer
#
# Prints one line per agent (VmRSS, its anonymous and file-backed parts,
# and PSS, which splits the shared executable pages between the agents),
# then a summary line, then the floor: test/rssfloor, a process holding
# only memberlist, a miekg/dns server and an HTTP listener with the
# Prometheus registry, measured the same way. Exits 1 when
# an agent's VmRSS is over GOAL_KB.
set -euo pipefail
cd "$(dirname "$0")/.."
SETTLE=${SETTLE:-15}
GOAL_KB=${GOAL_KB:-10240}
work=$(mktemp -d)
pids=()
floor=
cleanup() {
	# SIGTERM for the floor: a background job of a script ignores SIGINT.
	[ -n "$floor" ] && kill "$floor" 2>/dev/null || true
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent outlives the script.
trap 'exit 130' INT TERM

# CGO=1 measures the default (dynamically linked) build; the default here
# is the static build a release ships.
CGO_ENABLED=${CGO:-0} go build -o "$work/shoal" ./cmd/shoal
CGO_ENABLED=${CGO:-0} go build -o "$work/rssfloor" ./test/rssfloor
# DNS is on (-dns-addr below) and so is rendering: the built-in HAProxy
# template, validated by haproxy -c when it is installed.
# Agents that render need a gossip key.
key=$("$work/shoal" keygen)
check='check = ["haproxy", "-c", "-f", "{{path}}"]'
command -v haproxy >/dev/null || check=''
cat >"$work/conf.hcl" <<HCL
profile = "local"
encrypt = "$key"
template {
  source      = "builtin:haproxy"
  destination = "$work/NAME/haproxy.cfg"
  backend     = "command"
  $check
  reload      = ["true"]
}
HCL

# start NAME [JOIN]: runs an agent on ephemeral loopback ports and prints
# its HTTP address once it logs "agent running".
start() {
	local name=$1 join=${2:-}
	local args=(agent -node "$name" -bind 127.0.0.1:0 -http-addr 127.0.0.1:0 -dns-addr 127.0.0.1:0)
	[ -n "$join" ] && args+=(-join "$join")
	mkdir -p "$work/$name"
	sed "s|NAME|$name|" "$work/conf.hcl" >"$work/$name.hcl"
	args+=(-config-file "$work/$name.hcl")
	"$work/shoal" "${args[@]}" -service "web:$((8080 + ${#pids[@]}))" >"$work/$name.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 300); do
		if grep -q 'msg="agent running"' "$work/$name.log"; then
			return 0
		fi
		sleep 0.1
	done
	echo "agent $name did not start:" >&2
	cat "$work/$name.log" >&2
	exit 1
}
field() { grep 'msg="agent running"' "$work/$1.log" | grep -o "$2=[^ ]*" | cut -d= -f2; }

start a
start b "$(field a gossip_addr)"
start c "$(field a gossip_addr)"
http=$(field a http_addr)
for _ in $(seq 1 300); do
	n=$("$work/shoal" members -http-addr "$http" -status alive | tail -n +2 | wc -l)
	[ "$n" -eq 3 ] && break
	sleep 0.1
done
[ "$n" -eq 3 ] || { echo "cluster did not converge: $n alive" >&2; exit 1; }
for _ in $(seq 1 300); do
	grep -q "server a " "$work/a/haproxy.cfg" 2>/dev/null && grep -q "server c " "$work/a/haproxy.cfg" && break
	sleep 0.1
done
grep -q "server c " "$work/a/haproxy.cfg" || { echo "agent a did not render the cluster" >&2; cat "$work/a.log" >&2; exit 1; }
echo "cluster of 3 converged; settling ${SETTLE}s"
sleep "$SETTLE"

# status PID FIELD: a kB figure from /proc/PID/status.
status() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# memory PID: VmRSS and its anonymous and file-backed parts, and PSS.
memory() {
	echo "VmRSS $(status "$1" VmRSS) kB (anon $(status "$1" RssAnon) kB, file $(status "$1" RssFile) kB, PSS $(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup") kB)"
}

max=0
for i in 0 1 2; do
	kb=$(status "${pids[$i]}" VmRSS)
	echo "agent ${pids[$i]}: $(memory "${pids[$i]}")"
	[ "$kb" -gt "$max" ] && max=$kb
done
echo "idle RSS max: ${max} kB (goal <= ${GOAL_KB} kB)"
echo "Go memory of the first agent (read after measuring: a scrape faults in code):"
curl -s "http://$http/metrics" | grep -E "^go_memstats_(heap_inuse|heap_alloc|stack_inuse|heap_released|next_gc)_bytes|^go_goroutines" || true

# The floor: the libraries every agent needs, idle as long, doing nothing.
"$work/rssfloor" >"$work/floor.log" 2>&1 &
floor=$!
for _ in $(seq 1 100); do grep -q ready "$work/floor.log" && break; sleep 0.1; done
sleep "$SETTLE"
echo "floor (memberlist + miekg/dns + net/http + prometheus, idle): $(memory "$floor")"
[ "$max" -le "$GOAL_KB" ]
