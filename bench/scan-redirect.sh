#!/usr/bin/env bash
# Scan-redirect benchmark (run by hand, never by CI):
#   1. throughput/latency of GET /{displayId} on the real service (Kestrel on 127.0.0.1, the running Azurite,
#      a fresh storage prefix; every answered scan durably enqueued) vs a bare Kestrel static 302. The queue
#      poller is off in this phase: in Azure aggregation runs elsewhere against storage that scales, while
#      here it would share 2 cores and Azurite's single thread with the scan path being measured;
#   2. end to end, on a restarted service with a second fresh prefix and the poller on: fire N scans, poll
#      the overview until all are counted, report time, lost and double counts.
# Usage: bench/scan-redirect.sh [duration=10s] [connections=64] [e2e scans=2000]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10s}"; connections="${2:-64}"; scans="${3:-2000}"
svc_port=7190; bare_port=7191
prefix="bench$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
prefix2="${prefix}e"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get update && apt-get install -y wrk" >&2; exit 1; }

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error
data="$(mktemp -d)"
started="$(scripts/azurite.sh start "$data")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ -x "$bench_tool" ] && { "$bench_tool" cleanup "$prefix" >/dev/null 2>&1; "$bench_tool" cleanup "$prefix2" >/dev/null 2>&1; } || true
  [ "$started" = reused ] || scripts/azurite.sh stop "$started"
  rm -rf "$data"
}
bench_tool=bench/ScanBench/bin/Release/net10.0/ScanBench
trap cleanup EXIT INT TERM

dotnet build functions/QrFunctions -c Release -v quiet -nologo >/dev/null
dotnet build bench/BareRedirect -c Release -v quiet -nologo >/dev/null
dotnet build bench/ScanBench -c Release -v quiet -nologo >/dev/null
export AzureWebJobsStorage="UseDevelopmentStorage=true"

wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "http://127.0.0.1:$1/up-check" && return 0; sleep 0.1; done; echo "port $1 did not come up" >&2; exit 1; }

start_service() { # prefix poller(true|false)
  PORT=$svc_port Storage__Prefix="$1" QrFunctions__PublicBaseUrl="http://127.0.0.1:$svc_port/" QrFunctions__LocalQueuePolling="$2" \
    Logging__LogLevel__Default=Warning functions/QrFunctions/bin/Release/net10.0/QrFunctions >>/tmp/scan-bench-service.log 2>&1 &
  svc_pid=$!
  pids+=($svc_pid)
}
: >/tmp/scan-bench-service.log
start_service "$prefix" false
PORT=$bare_port bench/BareRedirect/bin/Release/net10.0/BareRedirect >/tmp/scan-bench-bare.log 2>&1 &
pids+=($!)
wait_up $svc_port; wait_up $bare_port

read -r load_id _ _ _ _ _ < <("$bench_tool" seed "$prefix")
echo "prefix $prefix, code $load_id"

run_wrk() { # name url → prints "rps p50 p99" (latency in ms)
  curl -s -o /dev/null "$2"   # warm-up: JIT, route cache, visitor salt
  wrk -t2 -c"$connections" -d3s "$2" >/dev/null
  wrk -t2 -c"$connections" -d"$duration" --latency "$2" >"/tmp/scan-bench-$1.txt"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "/tmp/scan-bench-$1.txt")
  p50=$(awk '$1=="50%" {print $2}' "/tmp/scan-bench-$1.txt")
  p99=$(awk '$1=="99%" {print $2}' "/tmp/scan-bench-$1.txt")
  local non3xx; non3xx=$(awk '/Non-2xx or 3xx/ {print $5}' "/tmp/scan-bench-$1.txt"); non3xx=${non3xx:-0}
  printf '%-8s %10s req/s   p50 %8s   p99 %8s   non-2xx/3xx %s\n' "$1" "$rps" "$p50" "$p99" "$non3xx" >&2
  echo "$rps"
}
echo "wrk -t2 -c$connections -d$duration (same machine, 2 cores shared with the server)"
svc=$(run_wrk service "http://127.0.0.1:$svc_port/$load_id")
bare=$(run_wrk bare "http://127.0.0.1:$bare_port/$load_id")
awk -v s="$svc" -v b="$bare" 'BEGIN { printf "ratio service/bare = %.2f (goal >= 0.5)\n", s / b }'

kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true
"$bench_tool" cleanup "$prefix" >/dev/null
start_service "$prefix2" true
wait_up $svc_port
read -r _ e2e_id e2e_qr team client secret < <("$bench_tool" seed "$prefix2")
echo "end to end: prefix $prefix2, code $e2e_id, poller on"
"$bench_tool" e2e "http://127.0.0.1:$svc_port" "$scans" "$e2e_id" "$e2e_qr" "$team" "$client" "$secret"
