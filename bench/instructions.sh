#!/usr/bin/env bash
# Instructions per request of an in-process scenario (bench/inprocess.py) under valgrind's
# callgrind: the figure to compare two versions on a shared machine, where CPU time moves
# ±30% with the neighbours and instruction counts do not (same binary, same data: the same
# count to within 0.5%). Two runs, N1 and N2 measured requests after the same warm-up; the
# difference divided by N2 - N1 leaves out start-up, imports and the warm-up.
#
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_1m bench/instructions.sh
#   TREE=/tmp/other-worktree SCENARIO=issue_with_timeline bench/instructions.sh
#
# Environment (defaults): TREE (this checkout), SCENARIO (county_pool), N1 (20), N2 (120),
# WARMUP (20), GC_THRESHOLDS (none: the server's own; e.g. 10000000,1000,1000 holds the
# collector off inside the window, so that a full collection, which costs tens of millions
# of instructions, cannot land in one of the two runs and not the other). About 2 minutes per 100 requests of the pool page (callgrind runs ~50x slower).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TREE=${TREE:-$ROOT}
SCENARIO=${SCENARIO:-county_pool}
N1=${N1:-20}
N2=${N2:-120}
WARMUP=${WARMUP:-20}
GC_THRESHOLDS=${GC_THRESHOLDS:-}
: "${DATABASE_URL:?set DATABASE_URL (a generated bench database)}"
count() {
  (cd "$TREE" && PYTHONPATH=$TREE valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    "$ROOT/.venv/bin/python" -m bench.inprocess --scenario "$SCENARIO" --requests "$1" \
    --warmup "$WARMUP" ${GC_THRESHOLDS:+--gc-thresholds "$GC_THRESHOLDS"} 2>&1) | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(count "$N1")
b=$(count "$N2")
echo "$SCENARIO: $(( (b - a) / (N2 - N1) )) instructions/request ($TREE; $N1 → $a, $N2 → $b)"
