#!/usr/bin/env bash
# CPU profile of the server under load, with JFR: the server pinned to CPU 0, the project's generator (closed loop) on
# CPU 1. Prints the top frames by own samples ("self") and the dev.ratelimit frames by samples under them ("total").
# Usage: load-test/profile.sh MODE MIX   MODE = noop | embedded | redis; MIX = cold (default mix) | warm
# Env: DURATION (30s measured), WARMUP (10s, not recorded), CONCURRENCY (64), TOP (25), OUT (/tmp/ratelimit-profile)
# Build first: mvn -q -pl load-test,server -am package -DskipTests
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-embedded}; MIX=${2:-cold}
OUT=${OUT:-/tmp/ratelimit-profile}
mkdir -p "$OUT"
# shellcheck source=load-test/lib.sh
. load-test/lib.sh
DURATION=${DURATION:-30s}; WARMUP=${WARMUP:-10s}; CONCURRENCY=${CONCURRENCY:-64}; TOP=${TOP:-25}
require_jars
trap 'stop_server; stop_redis' EXIT
case $MIX in cold) MIX_FLAGS=() ;; warm) MIX_FLAGS=(--ips 100000 --pool-size 200000) ;; *) echo "MIX: cold | warm" >&2; exit 2 ;; esac
case $MODE in
  noop) FLAGS=(--noop) ;;
  embedded) FLAGS=() ;;
  redis) start_redis; FLAGS=(--store redis --redis-uri "redis://127.0.0.1:$REDIS_PORT") ;;
  *) echo "MODE: noop | embedded | redis" >&2; exit 2 ;;
esac
NAME=$MODE-$MIX
JFR=$OUT/$NAME.jfr
start_server "$NAME" "${FLAGS[@]}"
$TOOL_CPU java -Xmx2g -jar "$LOAD_JAR" run --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" "${MIX_FLAGS[@]}" \
  --duration "$WARMUP" --warmup 0s >/dev/null 2>&1
assert_server
jcmd "$SERVER_PID" JFR.start name=p settings=profile filename="$JFR" >/dev/null
la=$(loadavg); before=$(cpu_ticks "$SERVER_PID")
$TOOL_CPU java -Xmx2g -jar "$LOAD_JAR" run --target "127.0.0.1:$PORT" --concurrency "$CONCURRENCY" "${MIX_FLAGS[@]}" \
  --duration "$DURATION" --warmup 0s --json-out "$OUT/$NAME.json" >"$OUT/$NAME.txt" 2>&1
after=$(cpu_ticks "$SERVER_PID")
jcmd "$SERVER_PID" JFR.stop name=p >/dev/null
stop_server
calls=$(grep -o '"completed":[0-9]*' "$OUT/$NAME.json" | cut -d: -f2)
REPORT=$OUT/$NAME.top.txt
{
  echo "# $NAME: JFR (settings=profile) of the server on CPU 0, generator closed loop $CONCURRENCY in flight on CPU 1, $DURATION"
  echo "# $(date -u +%FT%TZ) load $la; $calls calls, $(awk -v t=$((after - before)) -v hz="$HZ" -v c="$calls" 'BEGIN { printf "%.1f", t / hz * 1e6 / c }') us server CPU per call"
  jfr print --events jdk.ExecutionSample --stack-depth 64 "$JFR" | awk -v top="$TOP" '
    /^jdk.ExecutionSample/ { inside = 0; n++; first = 1; delete seen; next }
    /stackTrace = \[/ { inside = 1; next }
    inside && /^[[:space:]]*\]/ { inside = 0; next }
    inside && /line:/ {
      f = $0; sub(/^[[:space:]]+/, "", f); sub(/[[:space:]]+line:.*/, "", f)
      if (first) { self[f]++; first = 0 }
      if (f ~ /^dev\.ratelimit\./ && !(f in seen)) { seen[f] = 1; total[f]++ }
    }
    END {
      printf "# %d samples\n## self (own samples)\n", n
      for (f in self) printf "%6.2f%%  %s\n", 100 * self[f] / n, f | "sort -rn | head -" top; close("sort -rn | head -" top)
      printf "## total (samples under the frame), dev.ratelimit only\n"
      for (f in total) printf "%6.2f%%  %s\n", 100 * total[f] / n, f | "sort -rn | head -" top; close("sort -rn | head -" top)
    }'
} >"$REPORT"
cat "$REPORT"
