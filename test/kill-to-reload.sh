#!/usr/bin/env bash
# Measures the time from a backend member's SIGKILL to a reloaded haproxy,
# with the LAN gossip profile (shoal's default: 1 s probes, suspicion
# multiplier 4) on loopback: an haproxy in master-worker mode, an lb agent
# whose template reloads it through the master CLI, and backend agents
# offering service web.
#
#   bash test/kill-to-reload.sh          # 3 rounds
#   ROUNDS=5 bash test/kill-to-reload.sh
#
# Each round SIGKILLs one backend agent and waits for the lb agent's render
# status to show one backend fewer and one more successful reload; the time
# is from just before the kill to the render's finish (last_render, set
# after haproxy confirmed the reload). Needs haproxy on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
command -v haproxy >/dev/null || { echo "haproxy is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/shoal-k2r.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent outlives the script.
trap 'exit 130' INT TERM

go build -o "$work/shoal" ./cmd/shoal
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)); }
stats=$(free_port)
listen=$(free_port)

cat >"$work/haproxy.cfg" <<CFG
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
haproxy -W -S "$work/master.sock" -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
pids+=($!)

# Agents that render need a gossip key; every agent shares it.
key=$("$work/shoal" keygen)
cat >"$work/lb.hcl" <<HCL
profile = "lan"
encrypt = "$key"
template {
  source        = "builtin:haproxy"
  destination   = "$work/haproxy.cfg"
  master_socket = "$work/master.sock"
  vars = { bind = "127.0.0.1", stats_port = "$stats", "listen.web" = "$listen" }
}
HCL
printf 'profile = "lan"\nencrypt = "%s"\n' "$key" >"$work/web.hcl"

# start NAME CONF [ARGS...]: runs an agent on ephemeral loopback ports and
# waits for its "agent running" line.
start() {
	local name=$1 conf=$2
	shift 2
	"$work/shoal" agent -node "$name" -bind 127.0.0.1:0 -http-addr 127.0.0.1:0 -dns-addr 127.0.0.1:0 \
		-config-file "$conf" "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	last_pid=$!
	for _ in $(seq 1 300); do
		grep -q 'msg="agent running"' "$work/$name.log" && return 0
		sleep 0.1
	done
	echo "agent $name did not start:" >&2
	cat "$work/$name.log" >&2
	exit 1
}
field() { grep 'msg="agent running"' "$work/$1.log" | grep -o "$2=[^ ]*" | cut -d= -f2; }
status() { "$work/shoal" render -http-addr "$lb_http" -format json; }
num() { status | grep -o "\"$1\": [0-9]*" | head -1 | grep -o '[0-9]*$'; }

for _ in $(seq 1 100); do [ -S "$work/master.sock" ] && break; sleep 0.1; done
start lb "$work/lb.hcl"
lb_http=$(field lb http_addr)
seed=$(field lb gossip_addr)
# Backends that stay, and one victim per round. Three stay so that the
# victim's failure is confirmed by several members, as in a real LAN
# cluster: Lifeguard shortens the suspicion timeout with each independent
# confirmation (toward 4 s on LAN), while a lone suspicion waits up to 6x
# longer.
STAY=${STAY:-3}
for i in $(seq 1 "$STAY"); do
	start "web-$i" "$work/web.hcl" -service "web:$((listen + i))" -join "$seed"
done

results=()
for round in $(seq 1 "$ROUNDS"); do
	start "victim-$round" "$work/web.hcl" -service "web:$((listen + 100 + round))" -join "$seed"
	victim=$last_pid
	for _ in $(seq 1 300); do
		[ "$(num backends)" = $((STAY + 1)) ] && [ "$(status | grep -c '"ok": true')" = 1 ] && break
		sleep 0.1
	done
	[ "$(num backends)" = $((STAY + 1)) ] || { echo "round $round: the victim never showed up" >&2; status >&2; exit 1; }
	reloads=$(num reloads)
	t0=$(date +%s.%N)
	kill -KILL "$victim"
	wait "$victim" 2>/dev/null || true
	for _ in $(seq 1 3000); do
		[ "$(num backends)" = "$STAY" ] && [ "$(num reloads)" -gt "$reloads" ] && break
		sleep 0.01
	done
	[ "$(num reloads)" -gt "$reloads" ] || { echo "round $round: no reload" >&2; status >&2; exit 1; }
	t1=$(date -d "$(status | grep -o '"last_render": "[^"]*"' | cut -d'"' -f4)" +%s.%N)
	ms=$(echo "($t1 - $t0) * 1000 / 1" | bc)
	results+=("$ms")
	# How much of it was shoal's own work: from the lb agent logging the
	# failure to logging the installed, reloaded file.
	tf=$(grep 'msg="member failed"' "$work/lb.log" | grep "member=victim-$round " | tail -1 | grep -o 'time=[^ ]*' | cut -d= -f2)
	ti=$(grep 'msg=installed' "$work/lb.log" | tail -1 | grep -o 'time=[^ ]*' | cut -d= -f2)
	own=$(echo "($(date -d "$ti" +%s.%N) - $(date -d "$tf" +%s.%N)) * 1000 / 1" | bc)
	echo "round $round: SIGKILL -> haproxy reloaded in ${ms} ms (failure detected -> reloaded: ${own} ms)"
done
printf '%s\n' "${results[@]}" | sort -n | awk '{a[NR]=$1} END {printf "kill-to-reload (profile lan, %d rounds): min %d ms, median %d ms, max %d ms\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
