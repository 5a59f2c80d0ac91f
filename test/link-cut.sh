#!/usr/bin/env bash
# Measures, on the shipped LAN timings, how long after a backend host's
# link is cut every load balancer stops sending it new connections, and
# how many requests fail meanwhile: five network namespaces (three web
# hosts, two lbs under load), draining on suspicion (the default) against
# drain_on_suspect = false and against a reload for every change. Needs
# root, iproute2 and haproxy; see TestBenchLinkCut in test/.
#
#   sudo bash test/link-cut.sh            # 5 rounds per mode
#   sudo ROUNDS=10 bash test/link-cut.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 ROUNDS=${ROUNDS:-5} go test -count=1 -timeout 60m -run '^TestBenchLinkCut$' -v ./test/
