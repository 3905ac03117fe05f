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
# A free port p <= 55535 with p + 10000 free too (a Redis Cluster node's bus port).
free_cluster_port() {
  python3 -c '
import random, socket
for _ in range(1000):
    p = random.randint(20000, 55535)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
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
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null && return 0; sleep 0.1; done
  echo "server pid $SERVER_PID: /readyz does not answer ready within 10 s" >&2; exit 1
}
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

REDIS_PIDS=(); REDIS_PORT=; REDIS_URI=; REDIS_NODES=(); NETNS=
redis_wait() {  # $1 = host, $2 = port
  for _ in $(seq 1 100); do redis-cli -h "$1" -p "$2" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server $1:$2 did not start" >&2; exit 1
}
start_redis() {  # a throwaway redis-server on CPU 1 (with the tools), no persistence, loopback
  REDIS_PORT=$(free_port)
  $TOOL_CPU redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
  REDIS_PIDS+=($!)
  redis_wait 127.0.0.1 "$REDIS_PORT"
  REDIS_URI=redis://127.0.0.1:$REDIS_PORT; REDIS_NODES=(127.0.0.1:$REDIS_PORT)
}
# Whether Redis can be put behind an emulated network here: root, ip and tc (netem). Prints why not otherwise.
netem_possible() {
  if [ "$(id -u)" != 0 ]; then echo "skipped: Redis behind netem needs root (network namespace, veth, tc)"; return 1; fi
  for tool in ip tc; do command -v $tool >/dev/null || { echo "skipped: '$tool' is missing (Debian: iproute2)"; return 1; }; done
  return 0
}
# redis-server in its own network namespace, joined to this one by a veth pair, tc netem adding NETEM_DELAY (0.25ms)
# each way: a Redis one real network hop away. Removed again by stop_redis.
start_redis_netem() {
  local delay=${NETEM_DELAY:-0.25ms} id=$$
  NETNS=rlb$id
  ip netns add "$NETNS"
  ip link add "rlh$id" type veth peer name "rln$id"
  ip link set "rln$id" netns "$NETNS"
  ip addr add 10.213.0.1/30 dev "rlh$id"; ip link set "rlh$id" up
  ip netns exec "$NETNS" ip addr add 10.213.0.2/30 dev "rln$id"
  ip netns exec "$NETNS" ip link set "rln$id" up; ip netns exec "$NETNS" ip link set lo up
  if tc qdisc add dev "rlh$id" root netem delay "$delay" 2>/dev/null; then
    ip netns exec "$NETNS" tc qdisc add dev "rln$id" root netem delay "$delay"
    NETEM_NOTE="netem $delay each way"
  else
    # e.g. a kernel built without sch_netem: still a real hop (veth, another namespace), without the added delay.
    NETEM_NOTE="NO netem delay: this kernel has no netem qdisc (sch_netem); veth hop only"
  fi
  REDIS_PORT=6379
  $TOOL_CPU ip netns exec "$NETNS" redis-server --bind 10.213.0.2 --port "$REDIS_PORT" --save '' --appendonly no \
    --protected-mode no >"$OUT/redis-netem.log" 2>&1 &
  REDIS_PIDS+=($!)
  redis_wait 10.213.0.2 "$REDIS_PORT"
  local t0 t1; t0=$(date +%s%N); redis-cli -h 10.213.0.2 -p "$REDIS_PORT" -r 200 ping >/dev/null; t1=$(date +%s%N)
  NETEM_NOTE="$NETEM_NOTE; redis-cli ping round trip $(( (t1 - t0) / 200000 )) us (incl. redis-cli)"
  echo "redis in namespace $NETNS: $NETEM_NOTE" >>"$OUT/redis-netem.log"
  REDIS_URI=redis://10.213.0.2:$REDIS_PORT; REDIS_NODES=(10.213.0.2:$REDIS_PORT)
}
# A local 3-master Redis Cluster (no replicas) on CPU 1.
start_redis_cluster() {
  local nodes=() port
  for i in 1 2 3; do
    port=$(free_cluster_port); mkdir -p "$OUT/cluster-$i"; rm -f "$OUT/cluster-$i"/nodes.conf
    (cd "$OUT/cluster-$i" && exec $TOOL_CPU redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf >"$OUT/redis-cluster-$i.log" 2>&1) &
    REDIS_PIDS+=($!)
    nodes+=(127.0.0.1:$port)
  done
  for n in "${nodes[@]}"; do redis_wait 127.0.0.1 "${n#*:}"; done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$OUT/redis-cluster-create.log" 2>&1
  for _ in $(seq 1 100); do
    redis-cli -p "${nodes[0]#*:}" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break; sleep 0.1
  done
  REDIS_URI=redis-cluster://$(IFS=,; echo "${nodes[*]}"); REDIS_NODES=("${nodes[@]}")
}
# Redis CPU spent in commands (INFO commandstats usec, summed over every node) and the number of commands.
redis_command_usec() {
  local n
  for n in "${REDIS_NODES[@]}"; do redis-cli -h "${n%:*}" -p "${n#*:}" info commandstats; done | tr -d '\r' |
    awk -F'[=,:]' '/^cmdstat_/ && $1 !~ /cmdstat_(info|ping|cluster|command|config|client|script|hello)$/ { calls += $3; usec += $5 }
      END { printf "%d %d\n", usec, calls }'
}
redis_reset_stats() { local n; for n in "${REDIS_NODES[@]}"; do redis-cli -h "${n%:*}" -p "${n#*:}" config resetstat >/dev/null; done; }
stop_redis() {
  local p
  for p in "${REDIS_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  REDIS_PIDS=(); REDIS_NODES=()
  if [ -n "$NETNS" ]; then
    ip link del "rlh${NETNS#rlb}" 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
    NETNS=
  fi
}
# Descriptors the server answered by its failure mode (store failures: Redis errors and timeouts), from /metrics.
failure_answers() {
  curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null |
    awk '/^ratelimit_decisions(_total)?\{/ && /outcome="store_failure"/ { s += $NF } END { printf "%d\n", s }'
}
