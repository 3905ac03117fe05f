#!/usr/bin/env bash
# Measures the real server (embedded store) against the --noop baseline in one run, on loopback, with the project's
# generator (`ratelimit-load run`), the server pinned to CPU 0 and the generator to CPU 1 (PIN=1, default on >= 2 cores):
#   1. max throughput (closed loop): default (cold-key) mix and warm mix, noop and real alternated ROUNDS times;
#      every line gives calls/s beside the server's CPU per call (from /proc/PID/stat) and the load average;
#   2. latency, open loop (coordinated-omission corrected) at 50% of the real server's max and at RATES; a rate the
#      generator cannot drive (send lag p99 > 1 ms, or calls never sent) is refused and reported as such, not measured;
#   3. memory with ~1M active keys (real server persisted to a file; noop after the same traffic as reference).
# Every server gets fresh ports for all its listeners, and is checked to be alive and ready (its own /readyz) before
# each measurement. Build first: mvn -q -pl load-test,server -am package -DskipTests
# Tunables (env): DURATION WARMUP CONCURRENCY CONNECTIONS ROUNDS SERVER_HEAP OUT PHASES ("1 2 3") RATES (extra open-loop
# rates for phase 2, e.g. "5000 10000"; phase 2 needs REAL_MAX when phase 1 is skipped) PIN (1 = pinned, 0 = not)
# MIXES ("cold warm").
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/ratelimit-bench}
mkdir -p "$OUT"
# shellcheck source=load-test/lib.sh
. load-test/lib.sh
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-10s}
CONCURRENCY=${CONCURRENCY:-64}
CONNECTIONS=${CONNECTIONS:-2}
ROUNDS=${ROUNDS:-2}
MEM_REQUESTS=${MEM_REQUESTS:-5538561}  # requests of the default mix that create 1M counters under the current default policy (MemoryFootprint prints it)
PHASES=${PHASES:-1 2 3}
RATES=${RATES:-}
MIXES=${MIXES:-cold warm}
require_jars
trap 'stop_server; stop_redis' EXIT
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
echo "bench.sh $(date -u +%FT%TZ) PIN=$PIN DURATION=$DURATION WARMUP=$WARMUP CONCURRENCY=$CONCURRENCY ROUNDS=$ROUNDS" | tee -a "$SUMMARY"

mix_flags() {  # cold: the default mix (1M IPs, most calls create counters); warm: keys that repeat
  case $1 in cold) echo "" ;; warm) echo "--ips 100000 --pool-size 200000" ;; esac
}
load() {  # $1 = output name, rest = generator flags (a --warmup is run as a separate, unmeasured invocation first)
  local name=$1; shift
  local args=() shape=() warm=0s
  while [ $# -gt 0 ]; do
    case $1 in
      --warmup) warm=$2; shift 2 ;;
      --duration|--requests) args+=("$1" "$2"); shift 2 ;;
      *) args+=("$1"); shape+=("$1"); shift ;;
    esac
  done
  if [ "$warm" != 0s ]; then
    # Same traffic, results discarded: JIT, connections and counters warm up before the server's CPU is sampled.
    $TOOL_CPU java -Xmx2g -jar "$LOAD_JAR" run --target 127.0.0.1:"$PORT" --connections "$CONNECTIONS" "${shape[@]}" \
      --duration "$warm" --warmup 0s --max-send-lag 0s >/dev/null 2>&1 || true
  fi
  assert_server
  local la; la=$(loadavg)
  local before; before=$(cpu_ticks "$SERVER_PID")
  local rc=0
  $TOOL_CPU java ${LOAD_HEAP:--Xmx2g} -jar "$LOAD_JAR" run --target 127.0.0.1:"$PORT" --connections "$CONNECTIONS" \
    --json-out "$OUT/$name.json" --warmup 0s "${args[@]}" >"$OUT/$name.txt" 2>"$OUT/$name.err" || rc=$?
  local after; after=$(cpu_ticks "$SERVER_PID")
  local calls; calls=$(grep -o '"completed":[0-9]*' "$OUT/$name.json" 2>/dev/null | cut -d: -f2)
  calls=${calls:-0}
  local tput; tput=$(grep -o '"throughput":[0-9.]*' "$OUT/$name.json" 2>/dev/null | cut -d: -f2)
  # The generator's pool build (1-2 s, before the first call) falls inside this window but costs the server nothing.
  local line
  line=$(awk -v n="$name" -v c="$calls" -v t="${tput:-0}" -v ticks=$((after - before)) -v hz="$HZ" -v la="$la" \
    'BEGIN { printf "%-22s %9d calls %8.0f calls/s %6.1f us server CPU/call  (load %s)", n, c, t, (c > 0 ? ticks / hz * 1e6 / c : 0), la }')
  if [ "$rc" = 3 ]; then line="$line  $(grep REFUSED "$OUT/$name.err")"; fi
  grep -E '^latency|^send lag' "$OUT/$name.txt" | sed 's/^/    /' >"$OUT/$name.lat" || true
  echo "$line" | tee -a "$SUMMARY"
  return 0
}
throughput() { grep -o '"throughput":[0-9.]*' "$OUT/$1.json" | cut -d: -f2; }
cpu_of() { grep -- "^$1 " "$SUMMARY" | awk '{print $6}'; }

if [[ " $PHASES " == *" 1 "* ]]; then
echo "== 1. max throughput: closed loop, $CONCURRENCY in flight, $DURATION after $WARMUP warm-up, $ROUNDS rounds, mixes: $MIXES" | tee -a "$SUMMARY"
for mix in $MIXES; do
  for r in $(seq 1 "$ROUNDS"); do
    for mode in noop real; do
      if [ $mode = noop ]; then start_server "$mode-$mix-$r" --noop; else start_server "$mode-$mix-$r"; fi
      # shellcheck disable=SC2046
      load "max-$mode-$mix-$r" --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" $(mix_flags "$mix")
      stop_server
    done
  done
  # Ratio per round (modes alternated within a round, so both saw the same neighbours), then the best of each mode.
  for r in $(seq 1 "$ROUNDS"); do
    awk -v mix="$mix" -v r="$r" -v n="$(throughput "max-noop-$mix-$r")" -v e="$(throughput "max-real-$mix-$r")" \
      -v cn="$(cpu_of "max-noop-$mix-$r")" -v ce="$(cpu_of "max-real-$mix-$r")" \
      'BEGIN { printf "%s mix round %s: real/noop throughput %.2f, CPU per call real %.1f us - noop %.1f us = +%.1f us (%.2fx)\n", mix, r, e / n, ce, cn, ce - cn, ce / cn }' \
      | tee -a "$SUMMARY"
  done
done
if [[ " $MIXES " == *" cold "* ]]; then
  REAL_MAX=$(for r in $(seq 1 "$ROUNDS"); do throughput "max-real-cold-$r"; done | sort -n | tail -1)
fi
fi

if [[ " $PHASES " == *" 2 "* ]]; then
HALF=$(printf '%.0f' "$(echo "${REAL_MAX:?run phase 1 or set REAL_MAX} / 2" | bc -l)")
echo "== 2. open loop at 50% of the real server's max ($HALF calls/s) and at RATES=$RATES (refused when the generator falls behind)" | tee -a "$SUMMARY"
for rate in $HALF $RATES; do
  for mode in real noop; do
    if [ $mode = noop ]; then start_server "rate-$rate-$mode" --noop; else start_server "rate-$rate-$mode"; fi
    load "rate-$rate-$mode" --rate "$rate" --duration "$DURATION" --warmup "$WARMUP"
    tee -a "$SUMMARY" <"$OUT/rate-$rate-$mode.lat"
    stop_server
  done
done
fi

if [[ " $PHASES " == *" 3 "* ]]; then
echo "== 3. memory with 1M active keys ($MEM_REQUESTS distinct requests of the default mix: a pool that large, one pass)" | tee -a "$SUMMARY"
rm -f "$OUT/counters.dat"
for mode in real noop; do
  if [ $mode = real ]; then start_server mem-real --data-file "$OUT/counters.dat"; else start_server mem-noop --noop; fi
  LOAD_HEAP=-Xmx4g load mem-$mode --concurrency 32 --requests "$MEM_REQUESTS" --pool-size "$MEM_REQUESTS" --duration 0s --warmup 0s
  jcmd "$SERVER_PID" GC.run >/dev/null
  sleep 1
  jcmd "$SERVER_PID" GC.heap_info > "$OUT/mem-$mode.heap"
  echo "mem-$mode: $(grep -E 'VmRSS' "/proc/$SERVER_PID/status" | tr -s ' ') ; heap $(grep -E 'used' "$OUT/mem-$mode.heap" | head -1 | tr -s ' ')" | tee -a "$SUMMARY"
  stop_server
done
echo "counters file: apparent $(du -h --apparent-size "$OUT/counters.dat" | cut -f1), allocated $(du -h "$OUT/counters.dat" | cut -f1)" | tee -a "$SUMMARY"
fi
echo "summary: $SUMMARY"
