#!/bin/sh
# Runs on every node when someone fires `shoal event deploy VERSION`.
# Serf-compatible: the payload is on stdin, the event in SERF_* variables.
version=$(cat)
echo "$(date +%H:%M:%S) $SERF_SELF_NAME deploying $version (event $SERF_USER_EVENT, ltime $SERF_USER_LTIME)" >> "$DEMO_DIR/deploy.log"
