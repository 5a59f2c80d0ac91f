#!/usr/bin/env bash
# Prints shoal's benchmark table (README, Performance): join convergence for
# 5/10/20 agents, failure detection, the lb's haproxy dropping a SIGKILLed
# member (Runtime API), user-event spread, DNS QPS (dnsperf) and idle memory
# per agent. Each agent is a real
# process in its own network namespace. Needs root, iproute2, haproxy, dnsperf.
#   sudo test/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 go test -count=1 -timeout 30m -run '^TestBenchTable$' -v ./test/ | tee /tmp/shoal-bench.log | sed -n '/^| measurement/,/^$/p'
