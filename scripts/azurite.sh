#!/usr/bin/env bash
# Start or stop the project's Azurite (npm, pinned in package.json) on 127.0.0.1 only.
#   scripts/azurite.sh start DATA_DIR   -> prints "reused" if one already answers, else starts one and prints its pid
#                                          (AZURITE_IN_MEMORY=1: in memory, DATA_DIR only holds its log)
#   scripts/azurite.sh stop PID         -> stops that Azurite by its process group
# --disableTelemetry: without it Azurite calls a non-loopback metadata address and then ignores SIGTERM.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case "${1:-}" in
  start)
    data="${2:?data directory}"
    if listening 10000 && listening 10001 && listening 10002; then echo reused; exit 0; fi
    if [ ! -f "$root/node_modules/azurite/dist/src/azurite.js" ]; then
      (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    mkdir -p "$data"
    # setsid: its own process group, so stop can end it and everything it spawned.
    # AZURITE_IN_MEMORY=1 (benchmarks): keep everything in memory instead of rewriting its files as they grow.
    if [ "${AZURITE_IN_MEMORY:-}" = 1 ]; then store=(--inMemoryPersistence); else store=(--location "$data"); fi
    setsid node "$root/node_modules/azurite/dist/src/azurite.js" \
      "${store[@]}" --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
      --disableTelemetry --skipApiVersionCheck --silent >"$data/azurite.log" 2>&1 < /dev/null &
    pid=$!
    for _ in $(seq 1 100); do
      if listening 10000 && listening 10001 && listening 10002; then echo "$pid"; exit 0; fi
      if ! kill -0 "$pid" 2>/dev/null; then cat "$data/azurite.log" >&2; echo "Azurite exited" >&2; exit 1; fi
      sleep 0.1
    done
    echo "Azurite did not start listening within 10 s" >&2; kill -- -"$pid" 2>/dev/null || true; exit 1
    ;;
  stop)
    pid="${2:?pid}"
    kill -TERM -- -"$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
    kill -KILL -- -"$pid" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start DATA_DIR | stop PID" >&2; exit 64 ;;
esac
