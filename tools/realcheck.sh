#!/usr/bin/env bash
# realcheck: the checkers on real processes have no false alarms and have
# teeth. Every workload runs RUNS times against kvd and against etcd v3.7.3
# with the real nemesis (every run must pass); then etcd with the clients'
# reads switched to serializable, and kvd built with each planted bug a
# member process can switch on (kvd-unsafe --unsafe NAME): each must be
# reported as a correctness violation in at least one of its runs (at most
# CAUGHT_RUNS runs, default 5: one catch is the proof). Prints one
# table row per line; exits 1 if any row is not as expected.
# Rows run JOBS at a time (default 1): each is one cluster of its own on
# its own ports, and a run mostly waits on the wall clock.
# Usage: tools/realcheck.sh BIN_DIR RUNS DURATION [JOBS]
set -uo pipefail
bin=${1:?bin dir}; runs=${2:-3}; duration=${3:-30s}; jobs=${4:-1}
out=reports/realcheck/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$out"
workloads="register bank lease lock election watch auth"
rows=()
count() { grep -o "\"$2\": [0-9]*" "$1/summary.json" 2>/dev/null | head -1 | grep -o '[0-9]*$' || echo 0; }
caught_runs=$(( runs < ${CAUGHT_RUNS:-5} ? runs : ${CAUGHT_RUNS:-5} ))
row() { # binary workload variant expect [kvsim flags...]
  local b=$1 w=$2 variant=$3 expect=$4; shift 4
  local dir="$out/$b-$w${variant:+-$variant}" runs=$runs
  [ "$expect" = caught ] && runs=$caught_runs
  "$bin/kvsim" real --bin "$bin/$b" --workload "$w" --seeds "1-$runs" --duration "$duration" \
    --out "$dir" "$@" >"$dir.log" 2>&1
  local code=$? pass viol ok=✓
  pass=$(count "$dir" pass); viol=$(count "$dir" correctness)
  case $expect in
    pass) [ "$code" = 0 ] && [ "$pass" = "$runs" ] || ok=✗ ;;
    caught) [ "$viol" -ge 1 ] || ok=✗ ;;
  esac
  printf '| %-10s | %-8s | %-21s | %4s | %4s | %10s | %-6s | %s |\n' "$b" "$w" "${variant:-as built}" "$runs" "$pass" "$viol" "$expect" "$ok" >"$dir.row"
}
queue() { # the arguments of row; starts it once fewer than jobs rows run
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  local b=$1 w=$2 variant=$3
  rows+=("$out/$b-$w${variant:+-$variant}.row")
  row "$@" &
}
echo "realcheck: $runs runs of $duration per row, nemesis real, reports in $out"
printf '| %-10s | %-8s | %-21s | %4s | %4s | %10s | %-6s | %s |\n' binary workload variant runs pass violations want ok
echo '|------------|----------|-----------------------|------|------|------------|--------|---|'
for w in $workloads; do
  for b in kvd etcd; do queue "$b" "$w" "" pass; done
done
queue etcd register serializable-reads caught --read serializable
queue etcd bank serializable-reads caught --read serializable
queue kvd-unsafe register stale-read caught --unsafe stale-read
queue kvd-unsafe auth auth-writes-unchecked caught --unsafe auth-writes-unchecked
queue kvd-unsafe watch watch-skip caught --unsafe watch-skip
wait
bad=0
for r in "${rows[@]}"; do
  if [ -s "$r" ]; then cat "$r"; grep -q '✓ |$' "$r" || bad=1; else echo "| row $r: no result |"; bad=1; fi
done
exit $bad
