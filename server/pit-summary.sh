#!/usr/bin/env bash
# Mutation scores per package from PIT's XML report (docs/testing.md).
#   server/pit-summary.sh [mutations.xml]          package: killed/total = score
#   server/pit-summary.sh -s [mutations.xml]       also every surviving or uncovered mutant, by class and line
#   server/pit-summary.sh -c [mutations.xml]       scores per class instead of per package
# "Killed" counts what PIT reports as detected (KILLED, TIMED_OUT, MEMORY_ERROR, RUN_ERROR).
set -euo pipefail
survivors=false
perClass=false
while [[ "${1:-}" == -[sc] ]]; do
  [[ "$1" == "-s" ]] && survivors=true
  [[ "$1" == "-c" ]] && perClass=true
  shift
done
report="${1:-$(dirname "$0")/target/pit-reports/mutations.xml}"
if [[ ! -f "$report" ]]; then
  echo "no PIT report at $report: run  mvn -B -Pmutation -pl server -am verify  first" >&2
  exit 1
fi
awk -v survivors="$survivors" -v perClass="$perClass" '
  BEGIN { RS = "</mutation>" }
  /<mutation / {
    detected = ($0 ~ /detected=.true./)
    match($0, /status=.[A-Z_]+/); status = substr($0, RSTART + 8, RLENGTH - 8)
    match($0, /<mutatedClass>[^<]+/); cls = substr($0, RSTART + 14, RLENGTH - 14)
    match($0, /<mutatedMethod>[^<]+/); method = substr($0, RSTART + 15, RLENGTH - 15)
    match($0, /<lineNumber>[^<]+/); line = substr($0, RSTART + 12, RLENGTH - 12)
    match($0, /<description>[^<]+/); desc = substr($0, RSTART + 13, RLENGTH - 13)
    outerClass = cls; sub(/\$.*/, "", outerClass)
    pkg = cls; sub(/\.[^.]+$/, "", pkg)
    if (perClass == "true") pkg = outerClass
    total[pkg]++; if (detected) killed[pkg]++
    all++; if (detected) allKilled++
    if (!detected) {
      outer = cls; sub(/\$.*/, "", outer)
      lost[++n] = sprintf("  %-8s %s:%s %s: %s", status == "NO_COVERAGE" ? "UNCOVERED" : status, outer, line, method, desc)
    }
  }
  END {
    for (p in total) printf "%s: %d/%d = %.0f%%\n", p, killed[p], total[p], 100 * killed[p] / total[p] | "sort"
    close("sort")
    if (all > 0) printf "all: %d/%d = %.0f%%\n", allKilled, all, 100 * allKilled / all
    if (survivors == "true") {
      print "not killed:"
      for (i = 1; i <= n; i++) print lost[i] | "sort -t: -k1,1 -k2,2n"
    }
  }
' "$report" | sed -e 's/&lt;/</g' -e 's/&gt;/>/g' -e 's/&quot;/"/g' -e 's/&amp;/\&/g'
