#!/usr/bin/env bash
# Measures the resident memory of idle shoal agents in a 3-node cluster on
# loopback.
#
#   bash test/idle-rss.sh            # settle 15 s, then measure
#   SETTLE=60 bash test/idle-rss.sh  # settle longer
#
# Prints one line per agent (VmRSS, its anonymous and file-backed parts,
# and PSS, which splits the shared executable pages between the agents),
# then a summary line, then the floor: test/rssfloor, a process holding
# only the libraries the design requires (memberlist, a miekg/dns server,
# an HTTP listener, text/template with sprig, fsnotify, the HCL parser),
# measured the same way. Exits 1 when
# an agent's VmRSS is over GOAL_KB.
#
# SERF=1 measures side by side with Serf instead (issue 13's memory goal:
# VmRSS <= Serf's, RssAnon <= 0.6x Serf's): Serf v0.10.2 installed into a
# temporary GOBIN (or SERF_BIN), and shoal as its idle agent would run
# next to Serf's (default config, DNS answering, no templates, both with a
# 32-byte gossip key), a 3-node cluster of each in turn, rounds
# interleaved (Serf, shoal[, before], Serf, shoal[, before], ...), each
# cluster alone on the machine while it is measured. BEFORE names a git
# ref (or a shoal binary) to measure as a third column. The last column,
# floor, is three test/rssfloor processes joined by memberlist: the
# libraries every agent needs, in a cluster, doing nothing else, at the
# agent's GOGC of 50 (FLOOR_GOGC). One table
# of medians (over every agent of every round) comes out:
#
#   SERF=1 ROUNDS=5 BEFORE=main bash test/idle-rss.sh
#   SERF=1 SERF_BIN=/path/to/serf ROUNDS=1 SETTLE=5 bash test/idle-rss.sh
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

# side_by_side: SERF=1 mode (see the top of this file); exits when done.
side_by_side() {
	local rounds=${ROUNDS:-3} serf=${SERF_BIN:-}
	export CGO_ENABLED=${CGO:-0}
	if [ -z "$serf" ]; then
		echo "installing serf ${SERF_VERSION:-v0.10.2} (go install)..." >&2
		GOBIN="$work/serfbin" GOFLAGS=-mod=mod go install "github.com/hashicorp/serf/cmd/serf@${SERF_VERSION:-v0.10.2}" >&2
		serf=$work/serfbin/serf
	fi
	local systems=(serf shoal) bins=("$serf" "$work/shoal")
	build_shoal . "$work/shoal"
	go build -o "$work/rssfloor" ./test/rssfloor
	if [ -n "${BEFORE:-}" ]; then
		if [ -f "$BEFORE" ]; then
			cp "$BEFORE" "$work/before"
		else
			mkdir "$work/src"
			git archive "$BEFORE" | tar -x -C "$work/src"
			build_shoal "$work/src" "$work/before"
		fi
		systems+=(before)
		bins+=("$work/before")
	fi
	systems+=(floor)
	bins+=("$work/rssfloor")
	key=$("$work/shoal" keygen)
	local r i
	for r in $(seq 1 "$rounds"); do
		for i in "${!systems[@]}"; do
			measure_cluster "${systems[$i]}" "${bins[$i]}" "$r"
		done
	done
	report "${systems[@]}" -- "${bins[@]}"
	exit 0
}

# build_shoal DIR OUT: the build the README documents, from source tree DIR.
build_shoal() {
	(cd "$1" && go build ${SHOAL_BUILDFLAGS:-} -o "$2" ./cmd/shoal)
}

# measure_cluster SYSTEM BIN ROUND: starts 3 idle agents of BIN (Serf's
# when SYSTEM is serf, shoal's otherwise), waits for
# convergence (and a DNS answer from each shoal agent), settles, appends
# each agent's "VmRSS RssAnon Pss" (kB) to $work/SYSTEM.kb, stops them.
measure_cluster() {
	local sys=$1 bin=$2 round=$3 n first="" http=() i
	pids=()
	for i in 0 1 2; do
		local log=$work/$sys-r$round-$i.log
		if [ "$sys" = floor ]; then
			# The floor joins by memberlist; a failed join exits it. It
			# collects garbage at the agent's GOGC (cli.agentGCPercent).
			GOGC=${FLOOR_GOGC:-50} "$bin" -encrypt "$key" ${first:+-join "$first"} >"$log" 2>&1 &
			pids+=($!)
			wait_log "$log" '^ready ' || { cat "$log" >&2; exit 1; }
			[ -z "$first" ] && first=$(awk '/^ready / {print $2}' "$log")
		elif [ "$sys" = serf ]; then
			local port=$((SERF_PORT + 2 * i))
			local args=(agent -node "n$i" -bind "127.0.0.1:$port" -rpc-addr "127.0.0.1:$((port + 1))" -encrypt "$key")
			[ -n "$first" ] && args+=(-join "$first")
			"$bin" "${args[@]}" >"$log" 2>&1 &
			pids+=($!)
			http+=("127.0.0.1:$((port + 1))")
			wait_log "$log" 'agent: Serf agent starting|Serf agent running' || { cat "$log" >&2; exit 1; }
			[ -z "$first" ] && first=127.0.0.1:$port
		else
			local args=(agent -node "n$i" -bind 127.0.0.1:0 -http-addr 127.0.0.1:0 -dns-addr 127.0.0.1:0 -encrypt "$key")
			[ -n "$first" ] && args+=(-join "$first")
			"$bin" "${args[@]}" >"$log" 2>&1 &
			pids+=($!)
			wait_log "$log" 'msg="agent running"' || { cat "$log" >&2; exit 1; }
			http+=("$(grep 'msg="agent running"' "$log" | grep -o 'http_addr=[^ ]*' | cut -d= -f2)")
			[ -z "$first" ] && first=$(grep 'msg="agent running"' "$log" | grep -o 'gossip_addr=[^ ]*' | cut -d= -f2)
		fi
	done
	for _ in $(seq 1 300); do
		[ "$sys" = floor ] && { n=3; break; }
		n=$(alive "$sys" "$bin" "${http[0]}")
		[ "$n" -eq 3 ] && break
		sleep 0.1
	done
	[ "$n" -eq 3 ] || { echo "$sys cluster did not converge: $n alive" >&2; exit 1; }
	if [ "$sys" != serf ] && [ "$sys" != floor ]; then
		for i in 0 1 2; do
			local dnsaddr
			dnsaddr=$(grep 'msg="agent running"' "$work/$sys-r$round-$i.log" | grep -o 'dns_addr=[^ ]*' | cut -d= -f2)
			dig +short +time=2 +tries=3 -p "${dnsaddr##*:}" @"${dnsaddr%:*}" n0.node.shoal A | grep -qx 127.0.0.1 ||
				{ echo "$sys agent n$i did not answer DNS at $dnsaddr" >&2; exit 1; }
		done
	fi
	sleep "$SETTLE"
	local line=""
	for i in 0 1 2; do
		echo "$(status "${pids[$i]}" VmRSS) $(status "${pids[$i]}" RssAnon) $(awk '/^Pss:/ {print $2}' "/proc/${pids[$i]}/smaps_rollup")" >>"$work/$sys.kb"
		line+=" $(memory "${pids[$i]}");"
	done
	echo "round $round $sys:$line" >&2
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}

# wait_log FILE REGEX: polls FILE for REGEX for up to 30 s.
wait_log() {
	for _ in $(seq 1 300); do
		grep -Eq "$2" "$1" && return 0
		sleep 0.1
	done
	echo "no \"$2\" in $1 after 30 s" >&2
	return 1
}

# alive SYSTEM BIN API: how many alive members the agent at API lists.
alive() {
	if [ "$1" = serf ]; then
		"$2" members -rpc-addr "$3" -status alive 2>/dev/null | wc -l
	else
		"$2" members -http-addr "$3" -status alive 2>/dev/null | wc -l
	fi
}

# report SYSTEM... -- BIN...: the median over all agents of every round
# per system (rounds are medians of 3; the median of all 3*ROUNDS agents is
# reported), ratios to Serf, binary sizes.
report() {
	local systems=() bins=()
	while [ "$1" != -- ]; do systems+=("$1"); shift; done
	shift
	bins=("$@")
	med() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
	local s col
	declare -A rss anon pss
	for s in "${systems[@]}"; do
		rss[$s]=$(awk '{print $1}' "$work/$s.kb" | med)
		anon[$s]=$(awk '{print $2}' "$work/$s.kb" | med)
		pss[$s]=$(awk '{print $3}' "$work/$s.kb" | med)
	done
	echo
	echo "idle 3-node loopback clusters, ${ROUNDS:-3} rounds interleaved, ${SETTLE}s settle; medians over every agent (kB; ratio to Serf)"
	echo
	printf '| |'; for s in "${systems[@]}"; do printf ' %s |' "$s"; done; echo ' goal |'
	printf '|---'; for _ in "${systems[@]}"; do printf '|---'; done; echo '|---|'
	for col in rss anon pss; do
		declare -n v=$col
		case $col in rss) printf '| VmRSS' ;; anon) printf '| RssAnon' ;; pss) printf '| PSS' ;; esac
		for s in "${systems[@]}"; do
			printf ' | %s kB (%.2fx)' "${v[$s]}" "$(awk -v a="${v[$s]}" -v b="${v[serf]}" 'BEGIN {print a / b}')"
		done
		case $col in rss) echo ' | shoal <= 1.00x |' ;; anon) echo ' | shoal <= 0.60x |' ;; pss) echo ' | |' ;; esac
		unset -n v
	done
	printf '| binary'
	for i in "${!systems[@]}"; do printf ' | %.1f MB' "$(awk -v b="$(stat -c %s "${bins[$i]}")" 'BEGIN {print b / 1e6}')"; done
	echo ' | |'
	echo
	if awk -v a="${rss[shoal]}" -v b="${rss[serf]}" 'BEGIN {exit !(a <= b)}'; then
		echo "VmRSS goal met"
	else
		echo "VmRSS goal NOT met"
	fi
	if awk -v a="${anon[shoal]}" -v b="${anon[serf]}" 'BEGIN {exit !(a <= 0.6 * b)}'; then
		echo "RssAnon goal met"
	else
		echo "RssAnon goal NOT met"
	fi
}
SERF_PORT=${SERF_PORT:-27946}
key=
if [ -n "${SERF:-}${SERF_BIN:-}" ]; then
	status() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
	memory() {
		echo "VmRSS $(status "$1" VmRSS) kB (anon $(status "$1" RssAnon) kB, PSS $(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup") kB)"
	}
	side_by_side
fi

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
	n=$("$work/shoal" members -http-addr "$http" -status alive | wc -l)
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
echo "floor (memberlist + miekg/dns + net/http + sprig + fsnotify + hcl, idle): $(memory "$floor")"
[ "$max" -le "$GOAL_KB" ]
