#!/usr/bin/env bash
# Shared by the load-test scripts (source it): pinning, free ports, starting our own server and waiting until its own
# /readyz answers, server CPU per call from /proc/PID/stat. Needs OUT set by the caller.
SERVER_JAR=${SERVER_JAR:-server/target/ratelimit-server.jar}
LOAD_JAR=${LOAD_JAR:-load-test/target/ratelimit-load.jar}
SERVER_HEAP=${SERVER_HEAP:--Xms512m -Xmx1g -XX:+UseG1GC}   # G1 explicitly: on one pinned CPU the JVM would pick Serial GC
# PIN=1 (default on >= 2 cores): server on CPU 0, load tools and redis-server on CPU 1. PIN=0 runs everything unpinned.
if [ -z "${PIN:-}" ]; then if [ "$(nproc)" -ge 2 ]; then PIN=1; else PIN=0; fi; fi
if [ "$PIN" = 1 ]; then SERVER_CPU="taskset -c 0"; TOOL_CPU="taskset -c 1"; else SERVER_CPU=; TOOL_CPU=; fi
# NICE (default 0): scheduling priority of the server, the tools and redis-server. On a machine shared with niced builds,
# NICE=-5 (root) keeps the measured processes from queueing behind them; the load average is recorded either way.
NICE=${NICE:-0}
if [ "$NICE" != 0 ]; then SERVER_CPU="nice -n $NICE $SERVER_CPU"; TOOL_CPU="nice -n $NICE $TOOL_CPU"; fi
HZ=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime of the whole process, in clock ticks
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
require_jars() {
  [ -f "$SERVER_JAR" ] && [ -f "$LOAD_JAR" ] || { echo "build first: mvn -q -pl load-test,server -am package -DskipTests" >&2; exit 1; }
}

SERVER_PID=; PORT=; ADMIN_PORT=; ADMIN_GRPC_PORT=
# start_server NAME [server flags...]: fresh ports for every listener (gRPC, admin HTTP, admin gRPC), our own PID alive
# and our own /readyz answering before it returns. Extra JVM flags: SERVER_JVM_EXTRA.
start_server() {
  local name=$1; shift
  PORT=$(free_port); ADMIN_PORT=$(free_port); ADMIN_GRPC_PORT=$(free_port)
  # shellcheck disable=SC2086
  $SERVER_CPU java $SERVER_HEAP ${SERVER_JVM_EXTRA:-} -jar "$SERVER_JAR" --bind 127.0.0.1 --port "$PORT" \
    --admin-port "$ADMIN_PORT" --admin-grpc-port "$ADMIN_GRPC_PORT" "$@" >"$OUT/$name.log" 2>&1 &
  SERVER_PID=$!
  local t0; t0=$(date +%s.%N)
  for _ in $(seq 1 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server $name (pid $SERVER_PID) died:" >&2; tail -20 "$OUT/$name.log" >&2; exit 1; }
    if curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; then
      READY_SECONDS=$(echo "$(date +%s.%N) - $t0" | bc); return 0
    fi
    sleep 0.05
  done
  echo "server $name not ready on admin port $ADMIN_PORT" >&2; exit 1
}
# Checks, right before a measurement, that the server measured is still ours and ready.
assert_server() {
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "server pid $SERVER_PID is gone" >&2; exit 1; }
  curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null || { echo "server pid $SERVER_PID: /readyz does not answer" >&2; exit 1; }
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

REDIS_PID=; REDIS_PORT=
start_redis() {  # a throwaway redis-server on CPU 1 (with the tools), no persistence
  REDIS_PORT=$(free_port)
  $TOOL_CPU redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start" >&2; exit 1
}
stop_redis() {
  [ -n "$REDIS_PID" ] || return 0
  kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; REDIS_PID=
}
