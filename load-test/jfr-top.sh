#!/usr/bin/env bash
# Top frames of a JFR recording's CPU samples: own samples ("self") and samples under each dev.ratelimit frame ("total").
# Usage: load-test/jfr-top.sh RECORDING.jfr [TOP=25] [THREAD regex, default any]
set -euo pipefail
JFR=$1; TOP=${2:-25}; THREAD=${3:-}
jfr print --events jdk.ExecutionSample --stack-depth 64 "$JFR" | awk -v top="$TOP" -v thread="$THREAD" '
  /^jdk.ExecutionSample/ { inside = 0; keep = 1; first = 1; delete seen; counted = 0; next }
  /sampledThread = / { if (thread != "" && $0 !~ thread) keep = 0; next }
  /stackTrace = \[/ { inside = 1; next }
  inside && /^[[:space:]]*\]/ { inside = 0; next }
  inside && keep && /line:/ {
    f = $0; sub(/^[[:space:]]+/, "", f); sub(/[[:space:]]+line:.*/, "", f)
    if (!counted) { n++; counted = 1 }
    if (first) { self[f]++; first = 0 }
    if (f ~ /^dev\.ratelimit\./ && !(f in seen)) { seen[f] = 1; total[f]++ }
  }
  END {
    printf "# %d samples\n## self (own samples)\n", n
    for (f in self) printf "%6.2f%%  %s\n", 100 * self[f] / n, f | "sort -rn | head -" top; close("sort -rn | head -" top)
    printf "## total (samples under the frame), dev.ratelimit only\n"
    for (f in total) printf "%6.2f%%  %s\n", 100 * total[f] / n, f | "sort -rn | head -" top; close("sort -rn | head -" top)
  }'
