#!/usr/bin/env bash
# The whole measurement set in one command, every mode of a table in one run, pinned (server CPU 0, tools CPU 1):
#   1. engine.txt   - EngineCostProfile: the engine's own CPU per call and per descriptor (cold and warm keys), no gRPC,
#                     ROUNDS runs (benchmarks/target/benchmarks.jar);
#   2. bench/       - bench.sh phase 1 (+2): the project's generator, closed loop, cold and warm mixes, noop and embedded
#                     alternated per round, calls/s and server CPU per call; open loop at 50% of max (refused when the
#                     generator cannot drive it);
#   3. h2load/      - h2load.sh: nghttp2's h2load, noop / embedded / redis / redis-netem / redis-cluster at two depths,
#                     ratios, Redis CPU per call, failure-mode answers, latency at 25/50/75% of each mode's max.
# Small text results land in OUT (default load-test/results/$(date +%F)); raw JSON and logs stay in /tmp.
# Takes about 25 minutes on a quiet 2-core machine with the defaults (QUICK=1: about 8 minutes, fewer calls).
# Build first: mvn -q -pl load-test,server,benchmarks -am package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-load-test/results/$(date -u +%F)}
RAW=${RAW:-/tmp/ratelimit-measure}
QUICK=${QUICK:-0}
ROUNDS=${ROUNDS:-2}
mkdir -p "$OUT" "$RAW"
if [ "$QUICK" = 1 ]; then
  ENGINE_CALLS=100000; BENCH_ENV=(DURATION=10s WARMUP=5s ROUNDS=1 PHASES="1 2"); H2_ENV=(REQUESTS=40000 SECONDS=5)
else
  ENGINE_CALLS=300000; BENCH_ENV=(DURATION=20s WARMUP=10s ROUNDS="$ROUNDS" PHASES="1 2"); H2_ENV=(REQUESTS=200000 SECONDS=10)
fi
started=$(date +%s)
echo "measure-all.sh $(date -u +%FT%TZ) QUICK=$QUICK; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/measure-all.txt"

echo "== 1. engine CPU per call, in process (EngineCostProfile $ENGINE_CALLS), pinned to CPU 0" | tee "$OUT/engine.txt"
OPENS=$(sed -n 's/^jvm.opens=//p' benchmarks/target/classes/bench.properties)
for r in $(seq 1 "$ROUNDS"); do
  echo "-- round $r, load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/engine.txt"
  # shellcheck disable=SC2086
  taskset -c 0 java $OPENS -Xms2g -Xmx2g -XX:+AlwaysPreTouch -XX:+UseG1GC -cp benchmarks/target/benchmarks.jar \
    dev.ratelimit.bench.EngineCostProfile "$ENGINE_CALLS" 2>/dev/null | tee -a "$OUT/engine.txt"
done

echo "== 2. bench.sh (project generator)" | tee -a "$OUT/measure-all.txt"
env "${BENCH_ENV[@]}" OUT="$RAW/bench" bash load-test/bench.sh >/dev/null
cp "$RAW/bench/summary.txt" "$OUT/bench-summary.txt"

echo "== 3. h2load.sh (independent tool)" | tee -a "$OUT/measure-all.txt"
env "${H2_ENV[@]}" MODES="${MODES:-noop embedded redis redis-netem redis-cluster}" OUT="$RAW/h2load" bash load-test/h2load.sh >/dev/null
cp "$RAW/h2load/summary.txt" "$OUT/h2load-summary.txt"
echo "done in $(( ($(date +%s) - started) / 60 )) min; results in $OUT" | tee -a "$OUT/measure-all.txt"
