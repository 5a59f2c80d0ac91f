#!/usr/bin/env bash
# Applies 100 membership changes (leave, rejoin, weight, disable, address
# move, health flips to critical and maintenance and back) to a real haproxy
# through shoal's HAProxy backend while a steady load opens a new connection
# per request and 50 long-lived connections stay open, then reports master
# reloads (show proc), failed requests, requests that reached a removed
# server, surviving long-lived connections (and those shut on purpose because
# their server turned critical), health flips handled at once, server state
# files written, and whether "show servers state" agreed with the file after
# each change.
# Loopback only; bounded by -timeout (default 3 minutes).
#
#   bash test/runtime-churn.sh                 # the runtime path
#   bash test/runtime-churn.sh -reload         # the same churn, reloading each time
#   bash test/runtime-churn.sh -changes 300 -seed 7
#
# Needs haproxy (2.5 or later: dynamic servers) on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v haproxy >/dev/null || { echo "haproxy is not installed" >&2; exit 1; }
work=$(mktemp -d /tmp/shoal-churn.XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
go build -o "$work/runtimechurn" ./test/runtimechurn
"$work/runtimechurn" "$@"
