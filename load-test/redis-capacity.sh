#!/usr/bin/env bash
# Redis capacity on paper (docs/redis.md): Redis CPU per decision per algorithm and descriptors per call, and what the
# local over-limit cache saves, measured on a fresh loopback redis-server (Debian package redis-server).
# Usage: load-test/redis-capacity.sh [calls per configuration, default 30000]
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -pl server -am install -DskipTests
mvn -B -q -pl server test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$PWD/server/target/redis-capacity.cp"
java -cp "server/target/test-classes:server/target/classes:$(cat server/target/redis-capacity.cp)" \
  dev.ratelimit.store.redis.RedisCapacity "${1:-30000}"
