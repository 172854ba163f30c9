#!/usr/bin/env bash
# Scan-redirect benchmark (run by hand, never by CI):
#   1. end to end, with the queue poller on: fire N scans, poll the overview until all are counted, report
#      time, lost and double counts;
#   2. throughput/latency of GET /{displayId} on the real service (Kestrel on 127.0.0.1, Azurite, a fresh
#      storage prefix; every answered scan durably enqueued) vs a bare Kestrel static 302, at each given
#      connection count. Both get the same 15 s warm-up first: the service JITs ~15,000 methods and tiered
#      compilation takes that long to settle under load. The queue poller is off in this phase: in Azure
#      aggregation runs elsewhere against storage that scales, while here it would share 2 cores and
#      Azurite's single thread with the scan path being measured. Each connection count gets a fresh
#      Azurite (when the bench started its own) and service: a run leaves ~a million queued events, and an
#      Azurite holding them stalls for minutes at a time (seen here), which would stall the next run.
# Azurite: the running one if any, else its own in memory (on disk it rewrites its whole queue file as the
# queue grows, CPU that Azure Storage does not take from the instance; docs/scans.md has both).
# The throughput rounds alternate service and bare runs (the machine's speed drifts by tens of percent from one
# minute to the next) and report the median ratio, with each server's and Azurite's CPU time per request.
# Usage: bench/scan-redirect.sh [duration=10s] [connections="64 256"] [e2e scans=2000] [rounds=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-10s}"; connections="${2:-64 256}"; scans="${3:-2000}"; rounds="${4:-3}"
svc_port=7190; bare_port=7191
prefix="bn$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"
prefix2="${prefix}e"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get update && apt-get install -y wrk" >&2; exit 1; }

[ -d node_modules/azurite ] || npm ci --no-audit --no-fund --loglevel=error
data="$(mktemp -d)"
started="$(AZURITE_IN_MEMORY="${AZURITE_IN_MEMORY:-1}" scripts/azurite.sh start "$data")"
pids=()
prefixes=("$prefix2")
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "$started" = reused ]; then
    [ -x "$bench_tool" ] && for p in "${prefixes[@]}"; do "$bench_tool" cleanup "$p" >/dev/null 2>&1 || true; done
  else
    scripts/azurite.sh stop "$started"
  fi
  rm -rf "$data"
}
fresh_azurite() { # a new in-memory Azurite if the bench owns one; a reused one stays
  [ "$started" = reused ] && return 0
  scripts/azurite.sh stop "$started"
  started="$(AZURITE_IN_MEMORY="${AZURITE_IN_MEMORY:-1}" scripts/azurite.sh start "$data")"
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
start_service "$prefix2" true
wait_up $svc_port
read -r _ e2e_id e2e_qr team client secret < <("$bench_tool" seed "$prefix2")
echo "end to end: prefix $prefix2, code $e2e_id, poller on"
"$bench_tool" e2e "http://127.0.0.1:$svc_port" "$scans" "$e2e_id" "$e2e_qr" "$team" "$client" "$secret" || e2e_failed=1
kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true

PORT=$bare_port bench/BareRedirect/bin/Release/net10.0/BareRedirect >/tmp/scan-bench-bare.log 2>&1 &
bare_pid=$!
pids+=($bare_pid)
wait_up $bare_port

ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # user+system CPU of a process, in clock ticks
hz=$(getconf CLK_TCK)
azurite_pid() { pgrep -f 'node_modules/azurite/dist/src/azurite.js' | head -1; }
measure() { # name url connections server-pid → "req/s server-µs-per-request azurite-µs-per-request" (details to stderr)
  local az s0 a0 s1 a1 out rps p50 p99 non3xx
  az=$(azurite_pid); s0=$(ticks "$4"); a0=$(ticks "$az")
  out="/tmp/scan-bench-$1.txt"
  wrk -t2 -c"$3" -d"$duration" --latency "$2" >"$out"
  s1=$(ticks "$4"); a1=$(ticks "$az")
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1=="50%" {print $2}' "$out"); p99=$(awk '$1=="99%" {print $2}' "$out")
  non3xx=$(awk '/Non-2xx or 3xx/ {print $5}' "$out"); non3xx=${non3xx:-0}
  read -r server_us azurite_us < <(awk -v s=$((s1 - s0)) -v a=$((a1 - a0)) -v hz="$hz" -v r="$rps" -v d="${duration%s}" \
    'BEGIN { n = r * d; printf "%.1f %.1f\n", s / hz * 1e6 / n, a / hz * 1e6 / n }')
  printf '  %-8s %10s req/s   p50 %8s   p99 %8s   non-2xx/3xx %s   CPU per request: server %s us, Azurite %s us\n' \
    "$1" "$rps" "$p50" "$p99" "$non3xx" "$server_us" "$azurite_us" >&2
  echo "$rps"
}

echo "wrk -t2 -d$duration, $rounds rounds alternating service and bare after 15 s warm-up each"
echo "(same machine: 2 cores shared by wrk, the server under test and Azurite; the machine's speed drifts, so rounds alternate)"
for c in $connections; do
  echo "-- $c connections"
  fresh_azurite
  prefixes+=("${prefix}c$c")
  start_service "${prefix}c$c" false
  wait_up $svc_port
  read -r load_id _ _ _ _ _ < <("$bench_tool" seed "${prefix}c$c")
  svc_url="http://127.0.0.1:$svc_port/$load_id"; bare_url="http://127.0.0.1:$bare_port/$load_id"
  curl -s -o /dev/null "$svc_url"   # first request: route cache, visitor salt
  wrk -t2 -c"$c" -d15s "$svc_url" >/dev/null
  wrk -t2 -c"$c" -d15s "$bare_url" >/dev/null
  ratios=()
  for r in $(seq 1 "$rounds"); do
    svc=$(measure service "$svc_url" "$c" "$svc_pid")
    bare=$(measure bare "$bare_url" "$c" "$bare_pid")
    ratios+=("$(awk -v s="$svc" -v b="$bare" 'BEGIN { printf "%.2f", s / b }')")
    echo "  round $r: ratio ${ratios[-1]}"
  done
  kill "$svc_pid"; wait "$svc_pid" 2>/dev/null || true
  median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "ratio service/bare at $c connections: median $median of ${ratios[*]} (goal >= 0.5)"
done
exit "${e2e_failed:-0}"
