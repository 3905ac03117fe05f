#!/usr/bin/env bash
# Measures the real server against the --noop baseline in one run, on loopback, with the same generator settings:
#   1. max throughput (closed loop), noop and real alternated ROUNDS times, then once more with warm (repeating) keys;
#   2. latency at 50% of the real server's max (open loop, coordinated-omission corrected), real and noop;
#   3. memory with ~1M active keys (real server persisted to a file; noop after the same traffic as reference).
# Build first: mvn -q -pl load-test,server -am package -DskipTests
# Tunables (env): DURATION WARMUP CONCURRENCY CONNECTIONS ROUNDS SERVER_HEAP OUT PHASES ("1 2 3") RATES (extra open-loop
# rates for phase 2, e.g. "5000 10000"; phase 2 needs REAL_MAX when phase 1 is skipped) PIN=1 (server on CPU 0, generator on CPU 1)
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER_JAR=server/target/ratelimit-server.jar
LOAD_JAR=load-test/target/ratelimit-load.jar
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-10s}
CONCURRENCY=${CONCURRENCY:-64}
CONNECTIONS=${CONNECTIONS:-2}
ROUNDS=${ROUNDS:-2}
SERVER_HEAP=${SERVER_HEAP:--Xms512m -Xmx1g -XX:+UseG1GC}   # G1 explicitly: on one pinned CPU the JVM would pick Serial GC
MEM_REQUESTS=${MEM_REQUESTS:-5538561}  # requests of the default mix that create 1M counters under the current default policy (MemoryFootprint prints it)
OUT=${OUT:-/tmp/ratelimit-bench}
PHASES=${PHASES:-1 2 3}
RATES=${RATES:-}
PIN=${PIN:-0}
SERVER_CPU=; LOAD_CPU=
if [ "$PIN" = 1 ]; then SERVER_CPU="taskset -c 0"; LOAD_CPU="taskset -c 1"; fi
PORT=18081
mkdir -p "$OUT"
[ -f "$SERVER_JAR" ] && [ -f "$LOAD_JAR" ] || { echo "build first: mvn -q -pl load-test,server -am package -DskipTests" >&2; exit 1; }

SERVER_PID=
start_server() {  # $1 = name, rest = server flags
  local name=$1; shift
  # shellcheck disable=SC2086
  $SERVER_CPU java $SERVER_HEAP -jar "$SERVER_JAR" --bind 127.0.0.1 --port $PORT "$@" >"$OUT/$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
    kill -0 $SERVER_PID 2>/dev/null || { echo "server $name died:"; cat "$OUT/$name.log"; exit 1; }
    sleep 0.1
  done
  echo "server $name did not open port $PORT" >&2; exit 1
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}
trap '[ -n "$SERVER_PID" ] && kill -TERM $SERVER_PID 2>/dev/null || true' EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
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
    $LOAD_CPU java -Xmx2g -jar "$LOAD_JAR" run --target 127.0.0.1:$PORT --connections "$CONNECTIONS" "${shape[@]}" \
      --duration "$warm" --warmup 0s >/dev/null 2>&1 || true
  fi
  echo "loadavg before: $(cat /proc/loadavg)" > "$OUT/$name.load"
  local before; before=$(cpu_ticks "$SERVER_PID")
  $LOAD_CPU java ${LOAD_HEAP:--Xmx2g} -jar "$LOAD_JAR" run --target 127.0.0.1:$PORT --connections "$CONNECTIONS" --json-out "$OUT/$name.json" \
    --warmup 0s "${args[@]}" | tee "$OUT/$name.txt"
  local after; after=$(cpu_ticks "$SERVER_PID")
  local calls; calls=$(grep -o '"completed":[0-9]*' "$OUT/$name.json" | cut -d: -f2)
  # The generator's pool build (1-2 s, before the first call) falls inside this window but costs the server nothing.
  echo "server CPU during measured run: $(( (after - before) * 10 )) ms, $(( (after - before) * 10000 / (calls > 0 ? calls : 1) )) us per call" | tee -a "$OUT/$name.txt"
  echo "loadavg after: $(cat /proc/loadavg) (2 cores; other engineers' builds share them)" | tee -a "$OUT/$name.load" >> "$OUT/$name.txt"
}
throughput() { grep -o '"throughput":[0-9.]*' "$OUT/$1.json" | cut -d: -f2; }

if [[ " $PHASES " == *" 1 "* ]]; then
echo "== 1. max throughput: closed loop, $CONCURRENCY in flight, $DURATION after $WARMUP warm-up, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
  start_server noop-$r --noop
  load max-noop-$r --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP"
  stop_server
  start_server real-$r
  load max-real-$r --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP"
  stop_server
done
# Same, with keys that repeat (100k IPs, pool 200k): the steady state of a server whose clients come back, rather
# than the default mix's 1M IPs, where nearly every call of a short run creates a new per-IP counter.
WARM_MIX="--ips 100000 --pool-size 200000"
start_server noop-warm --noop
# shellcheck disable=SC2086
load max-noop-warm --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" $WARM_MIX
stop_server
start_server real-warm
# shellcheck disable=SC2086
load max-real-warm --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" $WARM_MIX
stop_server
echo "warm keys: noop $(throughput max-noop-warm) req/s, real $(throughput max-real-warm) req/s"

NOOP_MAX=$(for r in $(seq 1 "$ROUNDS"); do throughput max-noop-$r; done | sort -n | tail -1)
REAL_MAX=$(for r in $(seq 1 "$ROUNDS"); do throughput max-real-$r; done | sort -n | tail -1)
echo "best noop $NOOP_MAX req/s, best real $REAL_MAX req/s, ratio $(echo "scale=3; $REAL_MAX / $NOOP_MAX" | bc)"
fi

if [[ " $PHASES " == *" 2 "* ]]; then

HALF=$(printf '%.0f' "$(echo "${REAL_MAX:?run phase 1 or set REAL_MAX} / 2" | bc -l)")
echo "== 2. open loop at 50% of the real server's max ($HALF req/s) and at RATES=$RATES"
for rate in $HALF $RATES; do
  start_server rate-$rate-real
  load rate-$rate-real --rate "$rate" --duration "$DURATION" --warmup "$WARMUP"
  stop_server
  start_server rate-$rate-noop --noop
  load rate-$rate-noop --rate "$rate" --duration "$DURATION" --warmup "$WARMUP"
  stop_server
done
fi

if [[ " $PHASES " == *" 3 "* ]]; then

echo "== 3. memory with 1M active keys ($MEM_REQUESTS distinct requests of the default mix: a pool that large, one pass)"
rm -f "$OUT/counters.dat"
for mode in real noop; do
  if [ $mode = real ]; then start_server mem-real --data-file "$OUT/counters.dat"; else start_server mem-noop --noop; fi
  LOAD_HEAP=-Xmx4g load mem-$mode --concurrency 32 --requests "$MEM_REQUESTS" --pool-size "$MEM_REQUESTS" --duration 0s --warmup 0s
  jcmd "$SERVER_PID" GC.run >/dev/null
  sleep 1
  jcmd "$SERVER_PID" GC.heap_info > "$OUT/mem-$mode.heap"
  grep -E 'VmRSS|VmHWM' "/proc/$SERVER_PID/status" | tee "$OUT/mem-$mode.rss"
  grep -E 'used' "$OUT/mem-$mode.heap" | head -2
  stop_server
done
echo "counters file: apparent $(du -h --apparent-size "$OUT/counters.dat" | cut -f1), allocated $(du -h "$OUT/counters.dat" | cut -f1)"
fi
echo "results in $OUT"
