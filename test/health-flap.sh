#!/usr/bin/env bash
# Ten agents on the shipped LAN timings, each with one http check every
# 100 ms: first passing steadily (BASELINE seconds), then answered 200 and
# 503 in turn so the check flips on every run (WINDOW seconds). Reports per
# node and second the check transitions, catalog broadcasts and records
# received (shoal_catalog_messages_total), handler runs for health events,
# and the agent's CPU. Needs root and iproute2; see TestBenchHealthFlap in
# test/.
#
#   sudo bash test/health-flap.sh                       # 20 s steady, 60 s flapping
#   sudo BASELINE=10 WINDOW=120 bash test/health-flap.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 BASELINE=${BASELINE:-20} WINDOW=${WINDOW:-60} go test -count=1 -timeout 30m -run '^TestBenchHealthFlap$' -v ./test/
