#!/usr/bin/env bash
# realcheck: the checkers on real processes have no false alarms and have
# teeth. Every workload runs RUNS times against kvd and against etcd v3.7.3
# with the real nemesis (every run must pass), then etcd with the clients'
# reads switched to serializable (a stale read must be reported). Prints one
# table row per line; exits 1 if any row is not as expected.
# Usage: tools/realcheck.sh BIN_DIR RUNS DURATION
set -uo pipefail
bin=${1:?bin dir}; runs=${2:-3}; duration=${3:-30s}
out=reports/realcheck/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
workloads="register bank lease lock election watch auth"
bad=0
count() { grep -o "\"$2\": [0-9]*" "$1/summary.json" 2>/dev/null | head -1 | grep -o '[0-9]*$' || echo 0; }
row() { # binary workload read expect
  local b=$1 w=$2 read=$3 expect=$4 dir="$out/$1-$2${3:+-$3}"
  "$bin/kvsim" real --bin "$bin/$b" --workload "$w" --seeds "1-$runs" --duration "$duration" \
    ${read:+--read "$read"} --out "$dir" >"$dir.log" 2>&1
  local code=$? pass viol ok=✓
  pass=$(count "$dir" pass); viol=$(count "$dir" correctness)
  case $expect in
    pass) [ "$code" = 0 ] && [ "$pass" = "$runs" ] || ok=✗ ;;
    caught) [ "$viol" -ge 1 ] || ok=✗ ;;
  esac
  [ "$ok" = ✓ ] || bad=1
  printf '| %-5s | %-8s | %-12s | %4s | %4s | %10s | %-6s | %s |\n' "$b" "$w" "${read:-as asked}" "$runs" "$pass" "$viol" "$expect" "$ok"
}
echo "realcheck: $runs runs of $duration per row, nemesis real, reports in $out"
printf '| %-5s | %-8s | %-12s | %4s | %4s | %10s | %-6s | %s |\n' binary workload reads runs pass violations want ok
echo '|-------|----------|--------------|------|------|------------|--------|---|'
for b in kvd etcd; do
  for w in $workloads; do row "$b" "$w" "" pass; done
done
row etcd register serializable caught
row etcd bank serializable caught
exit $bad
