#!/usr/bin/env bash
# Cold-start benchmark of the published executable: time from process start until GET /openapi/v1.json answers
# (the development server mode of the same package: the worker's own start-up work plus Kestrel, without the
# Functions host, which cannot be installed here). Compares the shipped build (framework-dependent, ReadyToRun)
# with a baseline built the same way without ReadyToRun, in the same run, and prints the ratio. Not part of CI.
#   bench/startup.sh [runs=7]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs="${1:-7}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

publish() { # $1 = folder, $2 = ReadyToRun true/false
  dotnet publish functions/QrFunctions -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun="$2" \
    -p:DebugType=none -o "$1" -v quiet -nologo >/dev/null
}

measure() { # $1 = executable; prints the median start time in ms over $runs runs
  local times=() port=7391
  for _ in $(seq 1 "$runs"); do
    local start end pid
    start=$(date +%s%N)
    PORT=$port AzureWebJobsStorage="UseDevelopmentStorage=true" \
      QrFunctions__CreateStorage=false QrFunctions__LocalQueuePolling=false "$1" >/dev/null 2>&1 &
    pid=$!
    until curl -fs "http://127.0.0.1:$port/openapi/v1.json" >/dev/null 2>&1; do sleep 0.005; done
    end=$(date +%s%N)
    kill "$pid"; wait "$pid" 2>/dev/null || true
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

publish "$work/r2r" true
publish "$work/jit" false
shipped=$(measure "$work/r2r/QrFunctions")
baseline=$(measure "$work/jit/QrFunctions")
echo "startup until /openapi/v1.json answers (median of $runs): ReadyToRun ${shipped} ms, without ReadyToRun ${baseline} ms"
awk -v a="$shipped" -v b="$baseline" 'BEGIN { printf "ratio shipped/baseline: %.2f\n", a / b }'
