#!/usr/bin/env bash
# Measures, on the shipped LAN timings, how long after a backend's web
# server is killed (its agent keeps running) every agent's DNS stops
# answering it and every load balancer stops sending it new connections:
# three web hosts whose agents check their server over http every second
# (timeout 500ms), two lbs on the built-in HAProxy template's runtime
# path, and a reference haproxy without an agent on the same rendered file,
# whose own check (inter 2s fall 3) is timed on the same kills. Each round
# kills one server, then restarts it and waits until everything routes to
# it again. Needs root, iproute2 and haproxy; see TestBenchHealthKill in
# test/.
#
#   sudo bash test/health-kill.sh            # 10 rounds
#   sudo ROUNDS=30 bash test/health-kill.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 ROUNDS=${ROUNDS:-10} go test -count=1 -timeout 60m -run '^TestBenchHealthKill$' -v ./test/
