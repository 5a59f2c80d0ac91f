#!/usr/bin/env bash
# A three-node shoal cluster on one machine: three agents on 127.0.0.1
# (different ports), each with a small web backend; node1 renders HAProxy's
# config from the built-in template and HAProxy follows membership; a
# handler script reacts to a custom "deploy" event.
#
#   examples/three-node/run.sh           demo; stays up until Ctrl-C
#   examples/three-node/run.sh --check   verify every step, clean up, exit 0/1
#
# Needs: go (or SHOAL=/path/to/shoal), haproxy, dig, curl, python3.
set -euo pipefail

check=0
[[ ${1:-} == --check ]] && check=1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/shoal-demo.XXXXXX)}
pids=()
cleanup() {
	# SIGTERM, up to 5 s to exit, then SIGKILL: cleanup is bounded.
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		alive=0
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	[[ $check == 1 ]] && rm -rf "$DEMO_DIR"
	return 0
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap, so no agent outlives the script.
trap 'exit 130' INT TERM
say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; for f in "$DEMO_DIR"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done; exit 1; }
# wait_for SECONDS CMD...: poll CMD until it succeeds or time runs out.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

shoal=${SHOAL:-}
if [[ -z $shoal ]]; then
	shoal=$DEMO_DIR/shoal
	(cd "$root" && go build -o "$shoal" ./cmd/shoal)
fi

# One gossip key for the whole cluster: node1 renders HAProxy's config
# from gossip, and an agent with a template refuses unkeyed gossip.
key=$("$shoal" keygen)

# node N: gossip 127.0.0.1:1794N, API 127.0.0.1:1737N, DNS 127.0.0.1:1860N,
# web backend on 1908N; HAProxy on node1 serves web on 29081.
api() { echo "127.0.0.1:1737$1"; }
cat > "$DEMO_DIR/node1.hcl" <<HCL
template {
  source        = "builtin:haproxy"
  destination   = "$DEMO_DIR/haproxy.cfg"
  backend       = "haproxy"
  master_socket = "$DEMO_DIR/haproxy.sock"
  vars          = { "listen.web" = "29081" }
  wait {
    min = "200ms"
    max = "1s"
  }
  min_backends = 1
}
HCL

for n in 1 2 3; do
	mkdir -p "$DEMO_DIR/www$n" && echo "node$n" > "$DEMO_DIR/www$n/index.html"
	python3 -m http.server "1908$n" --bind 127.0.0.1 --directory "$DEMO_DIR/www$n" >"$DEMO_DIR/web$n.log" 2>&1 &
	pids+=($!)
	args=(agent -node "node$n" -bind "127.0.0.1:1794$n" -http-addr "$(api $n)" -dns-addr "127.0.0.1:1860$n"
		-profile local -encrypt "$key" -service "web:1908$n" -event-handler "user:deploy=$here/on-deploy.sh")
	[[ $n == 1 ]] && args+=(-config-file "$DEMO_DIR/node1.hcl") || args+=(-retry-join 127.0.0.1:17941)
	"$shoal" "${args[@]}" >"$DEMO_DIR/agent$n.log" 2>&1 &
	pids+=($!)
	# node2 and node3 join node1: start them once it listens, or their
	# first join attempt fails and the next comes only after retry_interval.
	if [[ $n == 1 ]]; then
		wait_for 20 curl -fs "http://$(api 1)/v1/health" || fail "node1 did not start"
	fi
done

# haproxy marks a backend that refuses its first check as down for a while
# (rise 2 x inter 2s), so the web servers must listen before it starts.
for n in 1 2 3; do
	wait_for 20 curl -fs "http://127.0.0.1:1908$n/" || fail "web server $n does not answer"
done

say "members (seen from node3)"
alive3() { [[ $(SHOAL_HTTP_ADDR=$(api 3) "$shoal" members -status alive | grep -c node) == 3 ]]; }
wait_for 30 alive3 || fail "three members not alive"
SHOAL_HTTP_ADDR=$(api 3) "$shoal" members
info1=$(SHOAL_HTTP_ADDR=$(api 1) "$shoal" info)
grep -q '^gossip_encrypted: *true$' <<<"$info1" || fail "node1 does not gossip encrypted"

say "dig @127.0.0.1 -p 18601 web.service.shoal SRV (node1's DNS)"
dns3() { [[ $(dig +short -p 18601 @127.0.0.1 web.service.shoal SRV | wc -l) == 3 ]]; }
wait_for 20 dns3 || fail "DNS does not list three web instances"
dig +short -p 18601 @127.0.0.1 web.service.shoal SRV

say "HAProxy follows membership ($DEMO_DIR/haproxy.cfg)"
servers() { [[ $(grep -c '^ *server ' "$DEMO_DIR/haproxy.cfg" 2>/dev/null) == "$1" ]]; }
wait_for 20 servers 3 || fail "node1 did not render three servers"
haproxy -W -db -S "$DEMO_DIR/haproxy.sock" -f "$DEMO_DIR/haproxy.cfg" >"$DEMO_DIR/haproxy.log" 2>&1 &
pids+=($!)
# lb_answers N: N requests through HAProxy, one answer (a node name) a line.
lb_answers() { for _ in $(seq "$1"); do curl -fs http://127.0.0.1:29081/ || return 1; done; }
wait_for 10 curl -fs http://127.0.0.1:29081/ || fail "haproxy does not answer"
lb_answers 3 || fail "haproxy failed a request"

say "node3 leaves: HAProxy drops it"
SHOAL_HTTP_ADDR=$(api 3) "$shoal" leave
wait_for 20 servers 2 || fail "node1 did not drop node3"
grep '^ *server ' "$DEMO_DIR/haproxy.cfg"
# node3's web server still runs: only HAProxy dropping the server (shoal
# applies the change through its Runtime API, no reload) stops sending to it.
without3() { out=$(lb_answers 4) && ! grep -q node3 <<<"$out"; }
wait_for 20 without3 || fail "HAProxy still sends requests to node3"
lb_answers 4

say "shoal event deploy v2: the handler runs on every live node"
SHOAL_HTTP_ADDR=$(api 1) "$shoal" event deploy v2
deployed() { [[ $(grep -c 'deploying v2' "$DEMO_DIR/deploy.log" 2>/dev/null) == 2 ]]; }
wait_for 20 deployed || fail "handler did not run on both live nodes"
cat "$DEMO_DIR/deploy.log"

if [[ $check == 1 ]]; then
	say "all checks passed"
	exit 0
fi
say "running; files in $DEMO_DIR. Try: SHOAL_HTTP_ADDR=$(api 1) $shoal members; Ctrl-C stops."
wait
