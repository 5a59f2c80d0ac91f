#!/usr/bin/env bash
# Measures the time from a backend member's SIGKILL until the lb's haproxy
# no longer sends it new connections, with the LAN gossip profile (shoal's
# default: 1 s probes, suspicion multiplier 4) on loopback: an haproxy in
# master-worker mode, an lb agent whose template drives it through the
# master CLI, and backend agents offering service web. Two modes, each with
# its own haproxy and agents:
#   runtime  the default: shoal applies the change through haproxy's
#            Runtime API, without a reload;
#   reload   no_runtime = true: shoal reloads haproxy, as before the
#            runtime path existed.
#
#   bash test/kill-to-reload.sh                  # 3 rounds per mode
#   ROUNDS=5 MODES=runtime bash test/kill-to-reload.sh
#
# Each round SIGKILLs one backend agent and waits for the lb agent's render
# status to show one backend fewer and one more applied change (runtime) or
# reload (reload); the time is from just before the kill to the render's
# finish (last_render, recorded once haproxy took the change: show servers
# state confirmed it, or the master confirmed the reload). Then haproxy's
# running worker must not route to the victim (show servers state through
# the master CLI). Needs haproxy on PATH, and python3 to speak to the
# master CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
MODES=${MODES:-runtime reload}
# Backends that stay, and one victim per round. Three stay so that the
# victim's failure is confirmed by several members, as in a real LAN
# cluster: Lifeguard shortens the suspicion timeout with each independent
# confirmation (toward 4 s on LAN), while a lone suspicion waits up to 6x
# longer.
STAY=${STAY:-3}
command -v haproxy >/dev/null || { echo "haproxy is not installed" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is not installed (it speaks to haproxy's master CLI)" >&2; exit 1; }
work=$(mktemp -d /tmp/shoal-k2r.XXXXXX)
pids=()
stop_all() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() {
	stop_all
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent outlives the script.
trap 'exit 130' INT TERM

go build -o "$work/shoal" ./cmd/shoal
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Agents that render need a gossip key; every agent shares it.
key=$("$work/shoal" keygen)
printf 'profile = "lan"\nencrypt = "%s"\n' "$key" >"$work/web.hcl"

# master CMD: one command to the current mode's haproxy master CLI.
master() {
	python3 - "$dir/master.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
s.shutdown(socket.SHUT_WR)
out = b""
while chunk := s.recv(65536):
    out += chunk
sys.stdout.write(out.decode())
PY
}
# routed NAME: exit 0 when haproxy's current worker routes svc_web to NAME
# (listed, neither in maintenance nor draining).
routed() {
	master "@1 show servers state" | awk -v n="$1" '
		function bit(v, b) { return int(v / b) % 2 }
		$2 == "svc_web" && $4 == n && !bit($7, 1) && !bit($7, 2) && !bit($7, 8) && !bit($7, 32) { found = 1 }
		END { exit !found }'
}

# start NAME CONF [ARGS...]: runs an agent on ephemeral loopback ports and
# waits for its "agent running" line.
start() {
	local name=$1 conf=$2
	shift 2
	"$work/shoal" agent -node "$name" -bind 127.0.0.1:0 -http-addr 127.0.0.1:0 -dns-addr 127.0.0.1:0 \
		-config-file "$conf" "$@" >"$dir/$name.log" 2>&1 &
	pids+=($!)
	last_pid=$!
	for _ in $(seq 1 300); do
		grep -qs 'msg="agent running"' "$dir/$name.log" && return 0
		sleep 0.1
	done
	echo "agent $name did not start:" >&2
	cat "$dir/$name.log" >&2
	exit 1
}
field() { grep 'msg="agent running"' "$dir/$1.log" | grep -o "$2=[^ ]*" | cut -d= -f2; }
status() { "$work/shoal" render -http-addr "$lb_http" -format json; }
num() { status | grep -o "\"$1\": [0-9]*" | head -1 | grep -o '[0-9]*$'; }

# measure MODE: starts haproxy and the agents, runs the rounds, prints one
# line per round and a summary, and stops everything.
measure() {
	local mode=$1 counter extra=""
	case $mode in
	runtime) counter=applied ;;
	reload) counter=reloads extra='no_runtime = true' ;;
	*) echo "unknown mode $mode: want runtime or reload" >&2; exit 2 ;;
	esac
	dir="$work/$mode"
	mkdir -p "$dir"
	local stats listen
	stats=$(free_port)
	listen=$(free_port)
	cat >"$dir/haproxy.cfg" <<CFG
global
    master-worker
defaults
    mode tcp
    timeout connect 5s
    timeout client 1m
    timeout server 1m
listen stats
    mode http
    bind 127.0.0.1:$stats
    stats enable
CFG
	haproxy -W -S "$dir/master.sock" -f "$dir/haproxy.cfg" >"$dir/haproxy.log" 2>&1 &
	pids+=($!)
	cat >"$dir/lb.hcl" <<HCL
profile = "lan"
encrypt = "$key"
template {
  source        = "builtin:haproxy"
  destination   = "$dir/haproxy.cfg"
  master_socket = "$dir/master.sock"
  vars = { bind = "127.0.0.1", stats_port = "$stats", "listen.web" = "$listen" }
  $extra
}
HCL
	for _ in $(seq 1 100); do [ -S "$dir/master.sock" ] && break; sleep 0.1; done
	start lb "$dir/lb.hcl"
	lb_http=$(field lb http_addr)
	local seed
	seed=$(field lb gossip_addr)
	for i in $(seq 1 "$STAY"); do
		start "web-$i" "$work/web.hcl" -service "web:$((listen + i))" -join "$seed"
	done

	local results=() round victim before t0 t1 ms tf ti own
	for round in $(seq 1 "$ROUNDS"); do
		start "victim-$round" "$work/web.hcl" -service "web:$((listen + 100 + round))" -join "$seed"
		victim=$last_pid
		for _ in $(seq 1 300); do
			[ "$(num backends)" = $((STAY + 1)) ] && [ "$(status | grep -c '"ok": true')" = 1 ] && routed "victim-$round" && break
			sleep 0.1
		done
		routed "victim-$round" || { echo "$mode round $round: haproxy never routed to the victim" >&2; status >&2; exit 1; }
		before=$(num "$counter")
		t0=$(date +%s.%N)
		kill -KILL "$victim"
		wait "$victim" 2>/dev/null || true
		for _ in $(seq 1 3000); do
			[ "$(num backends)" = "$STAY" ] && [ "$(num "$counter")" -gt "$before" ] && break
			sleep 0.01
		done
		[ "$(num "$counter")" -gt "$before" ] || { echo "$mode round $round: $counter did not grow" >&2; status >&2; exit 1; }
		t1=$(date -d "$(status | grep -o '"last_render": "[^"]*"' | cut -d'"' -f4)" +%s.%N)
		! routed "victim-$round" || { echo "$mode round $round: haproxy still routes to the victim" >&2; exit 1; }
		ms=$(echo "($t1 - $t0) * 1000 / 1" | bc)
		results+=("$ms")
		# How much of it was shoal's own work: from the lb agent logging the
		# failure to logging the installed file, applied or reloaded.
		tf=$(grep 'msg="member failed"' "$dir/lb.log" | grep "member=victim-$round " | tail -1 | grep -o 'time=[^ ]*' | cut -d= -f2)
		ti=$(grep 'msg=installed' "$dir/lb.log" | tail -1 | grep -o 'time=[^ ]*' | cut -d= -f2)
		own=$(echo "($(date -d "$ti" +%s.%N) - $(date -d "$tf" +%s.%N)) * 1000 / 1" | bc)
		echo "$mode round $round: SIGKILL -> haproxy stopped routing to it in ${ms} ms (failure detected -> $counter: ${own} ms)"
	done
	printf '%s\n' "${results[@]}" | sort -n | awk -v m="$mode" '{a[NR]=$1} END {printf "%s: SIGKILL to not routed (profile lan, %d rounds): min %d ms, median %d ms, max %d ms\n", m, NR, a[1], a[int((NR+1)/2)], a[NR]}'
	stop_all
}

for mode in $MODES; do
	measure "$mode"
done
