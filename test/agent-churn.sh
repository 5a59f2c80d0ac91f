#!/usr/bin/env bash
# Issue 12's "Must show" at the agent level: four web hosts and an lb in
# network namespaces (the built-in HAProxy template on its Runtime API path,
# test timings), and 100 membership changes driven through real agents in a
# seeded random mix: graceful leaves (SIGINT) and rejoins, maintenance on and
# off, a ttl check failed and passed, the pool never empty. Meanwhile the lb
# serves a steady load (a new connection per request) and holds 50
# long-lived connections. Reports changes by kind, haproxy reloads (show
# proc), shoal's installs against those applied through the Runtime API,
# failed requests and why, long-lived connections surviving (and those shut
# on purpose because their server turned critical), whether the file and
# "show servers state" agreed after each change, and the time until the lb
# reflects a change. Needs root, iproute2 and haproxy; see
# TestBenchAgentChurn in test/.
#
#   sudo bash test/agent-churn.sh
#   sudo CHANGES=300 SEED=7 bash test/agent-churn.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 CHANGES=${CHANGES:-100} SEED=${SEED:-1} go test -count=1 -timeout 20m -run '^TestBenchAgentChurn$' -v ./test/
