#!/usr/bin/env bash
# Independent-tool benchmark: nghttp2's h2load (Debian package nghttp2-client) drives ShouldRateLimit as plain HTTP/2
# POSTs against the --noop baseline, the embedded store and the Redis store, in one run, the server pinned to CPU 0 and
# h2load (and redis-server) to CPU 1. For each mode and depth it prints calls/s, the server's CPU per call (from
# /proc/PID/stat) and the ratios to the no-op; then latency percentiles (h2load --log-file) at 25/50/75% of each
# mode's maximum. Redis modes: redis (loopback), redis-netem (redis-server in its own network namespace behind a veth
# pair with tc netem adding NETEM_DELAY=0.25ms each way; root only, skipped with a message otherwise) and redis-cluster
# (a local 3-master Redis Cluster); each prints Redis's own CPU per decision (INFO commandstats) beside throughput.
# Build first: mvn -q -pl load-test,server -am package -DskipTests
# Tunables (env): MODES ("noop embedded redis"; add redis-netem, redis-cluster), DEPTHS ("4x16 8x64": connections x streams per h2load client),
# CLIENTS (4: h2load processes, each with its own request body, so keys spread), REQUESTS (200000 per mode and
# depth), LATENCY (1: run the latency phase), SECONDS (10: length of each latency run), OUT (/tmp/ratelimit-h2load).
set -euo pipefail
cd "$(dirname "$0")/.."
MODES=${MODES:-noop embedded redis}
DEPTHS=${DEPTHS:-4x16 8x64}
CLIENTS=${CLIENTS:-4}
REQUESTS=${REQUESTS:-200000}
LATENCY=${LATENCY:-1}
SECONDS_PER_RATE=${SECONDS:-10}
OUT=${OUT:-/tmp/ratelimit-h2load}
PATH_RLS=/envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install -y nghttp2-client" >&2; exit 1; }
mkdir -p "$OUT"
# shellcheck source=load-test/lib.sh
. load-test/lib.sh
require_jars
java -jar "$LOAD_JAR" h2load-bodies --count "$CLIENTS" --out "$OUT/bodies" --orgs 50000 --ips 200000 2>/dev/null
trap 'stop_server; stop_redis' EXIT

start_mode() {  # $1 = mode; returns 1 (with a message) when the mode cannot run here
  local flags=()
  case $1 in
    noop) flags=(--noop) ;;
    embedded) rm -f "$OUT"/counters.dat*; flags=(--data-file "$OUT/counters.dat") ;;
    redis) start_redis ;;
    redis-netem) local why; if ! why=$(netem_possible); then echo "$1: $why" | tee -a "$summary"; return 1; fi
      start_redis_netem; echo "$1: $NETEM_NOTE" | tee -a "$summary" ;;
    redis-cluster) start_redis_cluster ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
  case $1 in redis*) flags=(--store redis --redis-uri "$REDIS_URI" --redis-timeout "${REDIS_TIMEOUT:-1s}") ;; esac
  start_server "server-$1" "${flags[@]}"
}
stop_mode() { stop_server; stop_redis; }

# Runs CLIENTS h2load processes at once; prints "calls seconds" (calls that got a 200 response).
drive() {  # $1 = name, $2 = connections, $3 = streams, $4 = requests per client, rest = extra h2load flags
  local name=$1 c=$2 m=$3 n=$4; shift 4
  local pids=()
  for i in $(seq 0 $((CLIENTS - 1))); do
    $TOOL_CPU h2load -n "$n" -c "$c" -m "$m" -H 'content-type: application/grpc' -H 'te: trailers' \
      -d "$OUT/bodies/body-$i.bin" "$@" "http://127.0.0.1:$PORT$PATH_RLS" >"$OUT/$name-$i.txt" 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
}

summary=$OUT/summary.txt
: >"$summary"
echo "h2load.sh $(date -u +%FT%TZ) PIN=$PIN MODES=$MODES DEPTHS=$DEPTHS CLIENTS=$CLIENTS REQUESTS=$REQUESTS" | tee -a "$summary"
declare -A RATE
for depth in $DEPTHS; do
  c=${depth%x*}; m=${depth#*x}
  for mode in $MODES; do
    start_mode "$mode" || continue
    drive "warm-$mode-$depth" "$c" "$m" $((REQUESTS / CLIENTS / 2))   # JIT warm-up, not measured
    assert_server
    [ ${#REDIS_NODES[@]} -gt 0 ] && redis_reset_stats
    la=$(loadavg); fails0=$(failure_answers)
    before=$(cpu_ticks "$SERVER_PID"); t0=$(date +%s.%N)
    drive "run-$mode-$depth" "$c" "$m" $((REQUESTS / CLIENTS))
    t1=$(date +%s.%N); after=$(cpu_ticks "$SERVER_PID")
    ok=$(cat "$OUT"/run-"$mode"-"$depth"-*.txt | awk '/status codes:/ {s += $3} END {print s}')
    ticks=$((after - before)); hz=$(getconf CLK_TCK)
    line=$(awk -v ok="$ok" -v t0="$t0" -v t1="$t1" -v ticks="$ticks" -v hz="$hz" -v mode="$mode" -v depth="$depth" \
      'BEGIN {s = t1 - t0; printf "%-13s %-5s %9d calls %8.0f calls/s %7.1f us CPU/call", mode, depth, ok, ok / s, ticks / hz * 1e6 / ok}')
    extra="failure-mode answers $(( $(failure_answers) - fails0 ))"
    if [ ${#REDIS_NODES[@]} -gt 0 ]; then
      read -r usec cmds < <(redis_command_usec)
      extra="$extra; redis $(awk -v u="$usec" -v c="$cmds" -v ok="$ok" 'BEGIN { printf "%d commands (%.2f per call), %.1f us redis CPU per call", c, c / ok, u / ok }')"
    fi
    echo "$line  ($extra; load $la)" | tee -a "$summary"
    RATE[$mode-$depth]=$(echo "$line" | awk '{print $5}')
    stop_mode
  done
done
echo "--- ratios to noop (calls/s; CPU per call inverse)" | tee -a "$summary"
awk '{k = $1; d = $2; rate[k, d] = $5; cpu[k, d] = $7} END {
  for (kd in rate) { split(kd, p, SUBSEP); if (p[1] != "noop" && ((("noop") SUBSEP p[2]) in rate))
    printf "%-13s %-5s throughput %.2f x noop, CPU per call %.2f x noop\n", p[1], p[2], rate[kd] / rate["noop", p[2]], cpu[kd] / cpu["noop", p[2]] } }' \
  <(grep -v -- '---' "$summary" | grep 'calls/s' | grep -v '^h2load.sh') | sort | tee -a "$summary"

if [ "$LATENCY" = 1 ]; then
  depth=${DEPTHS%% *}; c=${depth%x*}; m=${depth#*x}
  echo "--- latency (h2load --log-file) at 25/50/75% of each mode's max, $depth" | tee -a "$summary"
  for mode in $MODES; do
    max=${RATE[$mode-$depth]:-}
    [ -n "$max" ] || continue
    start_mode "$mode" || continue
    drive "warm-lat-$mode" "$c" "$m" $((REQUESTS / CLIENTS / 2))   # JIT warm-up, not measured
    for pct in 25 50 75; do
      rate=$((max * pct / 100)); per_conn=$(( (rate + CLIENTS * c - 1) / (CLIENTS * c) ))
      rm -f "$OUT"/lat-"$mode"-"$pct"-*.log
      lat_pids=()
      for i in $(seq 0 $((CLIENTS - 1))); do
        $TOOL_CPU h2load -n $((per_conn * c * SECONDS_PER_RATE)) -c "$c" -m "$m" --rps "$per_conn" \
          -H 'content-type: application/grpc' -H 'te: trailers' -d "$OUT/bodies/body-$i.bin" \
          --log-file "$OUT/lat-$mode-$pct-$i.log" "http://127.0.0.1:$PORT$PATH_RLS" >/dev/null 2>&1 &
        lat_pids+=($!)
      done
      for p in "${lat_pids[@]}"; do wait "$p" || true; done
      cat "$OUT"/lat-"$mode"-"$pct"-*.log | awk '{print $3}' | sort -n | awk -v mode="$mode" -v pct="$pct" -v rate="$rate" '
        {v[NR] = $1} END { if (NR == 0) { print mode, pct "%: no samples"; exit }
          printf "%-13s %3d%% (%6d calls/s): p50 %6.0f us  p99 %6.0f us  p99.9 %6.0f us  (%d calls)\n", mode, pct, rate,
            v[int(NR * 0.5) + 1], v[int(NR * 0.99) + 1], v[int(NR * 0.999) + 1], NR }' | tee -a "$summary"
    done
    stop_mode
  done
fi
echo "summary: $summary"
