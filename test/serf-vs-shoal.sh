#!/usr/bin/env bash
# Serf and shoal side by side (issue 13, "Serf parity"): installs Serf
# v0.10.2 into a temporary GOBIN, builds shoal, then runs both on the same
# network namespaces with the same LAN timings and a 32-byte gossip key,
# rounds interleaved (Serf, shoal, Serf, shoal...), and prints one table:
# user event to the sender's handler and to every handler, join
# convergence, one join call, idle VmRSS / anonymous memory / PSS, binary
# size, with the goals met or not. The measuring is TestSerfSideBySide
# (test/serfbench_test.go). Needs root and iproute2; about 6 minutes,
# plus 40 s for each event some handler never runs (counted as lost).
#
#   sudo bash test/serf-vs-shoal.sh
#   ROUNDS=1 SIZES=5 EVENTS=5 SETTLE=5s sudo bash test/serf-vs-shoal.sh   # quick look
#   SHOAL_DNS=off sudo bash test/serf-vs-shoal.sh                         # shoal without its DNS server
#   SERF_VERSION=v0.10.1 sudo bash test/serf-vs-shoal.sh
#   KEEP=/tmp/sb sudo bash test/serf-vs-shoal.sh     # keep every round's agent logs and event stamps
set -euo pipefail
cd "$(dirname "$0")/.."
SERF_VERSION=${SERF_VERSION:-v0.10.2}
work=$(mktemp -d /tmp/serf-vs-shoal.XXXXXX)
testpid=

cleanup() {
	if [ -n "$testpid" ]; then
		kill "$testpid" 2>/dev/null || true
		wait "$testpid" 2>/dev/null || true
		# A killed test cannot run its own cleanup: remove its namespaces
		# (named shoalt-<its pid>-...) and what still runs in them.
		for ns in $(ip netns list | awk -v p="shoalt-$testpid-" 'index($1, p) == 1 {print $1}'); do
			for pid in $(ip netns pids "$ns"); do kill -9 "$pid" 2>/dev/null || true; done
			ip netns del "$ns" 2>/dev/null || true
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
# A signal (Ctrl-C, timeout) exits through the EXIT trap.
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || { echo "serf-vs-shoal: needs root (network namespaces)" >&2; exit 1; }

# Both static, as their releases ship.
export CGO_ENABLED=0
echo "installing serf $SERF_VERSION (go install, Go module proxy $(go env GOPROXY))..." >&2
if ! GOBIN="$work/bin" GOFLAGS=-mod=mod go install "github.com/hashicorp/serf/cmd/serf@$SERF_VERSION" >"$work/install.log" 2>&1; then
	cat "$work/install.log" >&2
	echo "serf-vs-shoal: could not install serf $SERF_VERSION with go install (module proxy unreachable?); stopping" >&2
	exit 1
fi
go build -o "$work/bin/shoal" ./cmd/shoal
go test -c -o "$work/serfbench.test" ./test/

# The test binary runs in the background so that the trap knows its pid.
(
	cd test
	exec env SHOAL_SERFBENCH=1 SERF_BIN="$work/bin/serf" SHOAL_TEST_BIN="$work/bin/shoal" \
		SERFBENCH_SIZES="${SIZES:-5,10}" SERFBENCH_ROUNDS="${ROUNDS:-3}" \
		SERFBENCH_EVENTS="${EVENTS:-10}" SERFBENCH_SETTLE="${SETTLE:-15s}" \
		SERFBENCH_SHOAL_DNS="${SHOAL_DNS:-on}" SERFBENCH_KEEP="${KEEP:-}" \
		"$work/serfbench.test" -test.run '^TestSerfSideBySide$' -test.v -test.count=1 -test.timeout 20m
) >"$work/test.log" 2>&1 &
testpid=$!
# Per-round lines as they come, then the table.
tail -n +1 -f "$work/test.log" --pid="$testpid" | grep --line-buffered -E 'round [0-9]+:|^(---|FAIL|ok|PASS)' >&2 || true
status=0
wait "$testpid" || status=$?
testpid=
if [ "$status" -ne 0 ]; then
	tail -n 60 "$work/test.log" >&2
	echo "serf-vs-shoal: the side-by-side test failed (exit $status)" >&2
	exit "$status"
fi
sed -n '/ vs /,/^| binary size/p' "$work/test.log"
