#!/usr/bin/env bash
# Issue 12's "20% packet loss for 60 s": five network namespaces (three web
# hosts, two lbs under load, the built-in HAProxy template on its runtime
# path) on the shipped LAN timings; every host's link, the lbs' included,
# drops 20% of its frames for DURATION. Reports the drains healthy web
# servers got on each lb and how long they lasted, the suspicions, failed
# requests and why, reloads, members marked failed, and whether the pool is
# whole again once the loss clears; draining on suspicion (the default)
# against drain_on_suspect = false. Needs root, iproute2, haproxy and netem
# or nftables; see TestBenchLossDrain in test/.
#
#   sudo bash test/loss-drain.sh               # 60 s of loss per mode
#   sudo DURATION=120s bash test/loss-drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SHOAL_BENCH=1 DURATION=${DURATION:-60s} go test -count=1 -timeout 30m -run '^TestBenchLossDrain$' -v ./test/
