#!/usr/bin/env bash
# The province dashboard, two builds side by side and INTERLEAVED (issue 18): both servers
# start at once, each on its own copy of the same generated database, and every window
# measures one of them in turn (A B A B …) at 1, 4 and 16 concurrent requests, then the
# write mix (bench/dashboard_mix.py: 1 in EVERY dashboard requests follows an issue
# submitted in 新市). Prints each window and the medians per server (bench/dashboard_ab.py).
# Loopback only; every process it starts is bounded by `timeout` and stopped by its pid.
#
#   A_TREE=/path/to/main/checkout A_DB=closedloop_bench_1m_a \
#   B_TREE=$PWD B_DB=closedloop_bench_1m_b bench/dashboard_ab.sh
#
# Environment (defaults): A_TREE, B_TREE (source trees served, PYTHONPATH), A_DB, B_DB
# (databases, migrated for their tree), A_NAME (main), B_NAME (branch), ROUNDS (2),
# LEVELS ("1 4 16"), DURATION (20), WARMUP (5), EVERY (20; 0: no mix), MIX_PERIOD
# (2026-Q4: its months include today, so a submitted issue dirties them), BENCH_QUARTER
# (2026-Q3, the harness's), OUT (bench/out/dashboard_ab-<time>), VENV (.venv), SCENARIOS
# (province_dashboard; any of bench/harness.py's, e.g. "mix_scores_department
# mix_cockpit_city": each level measures each scenario on A then B), FIRST_ROUND (1: number
# the rounds from there, to add rounds run later, each under its own bench lock, to OUT),
# A_PORT, B_PORT (8011, 8012).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
A_TREE=${A_TREE:?the tree of build A}; B_TREE=${B_TREE:?the tree of build B}
A_DB=${A_DB:?database of A}; B_DB=${B_DB:?database of B}
A_NAME=${A_NAME:-main}; B_NAME=${B_NAME:-branch}
ROUNDS=${ROUNDS:-2}
LEVELS=${LEVELS:-1 4 16}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
EVERY=${EVERY:-20}
MIX_PERIOD=${MIX_PERIOD:-2026-Q4}
OUT=${OUT:-bench/out/dashboard_ab-$(date -u +%Y%m%dT%H%M%SZ)}
SCENARIOS=${SCENARIOS:-province_dashboard}
FIRST_ROUND=${FIRST_ROUND:-1}
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
export CLOSEDLOOP_JWT_SECRET=${CLOSEDLOOP_JWT_SECRET:-bench-secret-0123456789-abcdefghijklmnop}
export CLOSEDLOOP_SWEEP_INTERVAL_SECONDS=0 CLOSEDLOOP_RELAY_INTERVAL_SECONDS=0
export CLOSEDLOOP_RATE_LIMIT_POINTS=0
PG_PID=$(head -1 /var/lib/postgresql/15/main/postmaster.pid 2>/dev/null || true)
NLEVELS=$(wc -w <<<"$LEVELS")
NSCEN=$(wc -w <<<"$SCENARIOS")
LIFETIME=$((ROUNDS * 2 * (NLEVELS * NSCEN + 1) * (WARMUP + DURATION + 40) + 300))
mkdir -p "$OUT"

declare -A TREE=([a]=$A_TREE [b]=$B_TREE) DB=([a]=$A_DB [b]=$B_DB) NAME=([a]=$A_NAME [b]=$B_NAME)
declare -A PORT=([a]=${A_PORT:-8011} [b]=${B_PORT:-8012}) PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
}
trap stop_all EXIT INT TERM

url() { echo "postgresql://postgres@127.0.0.1:5432/${DB[$1]}"; }

{
  echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  for s in a b; do
    echo "${NAME[$s]}: $(git -C "${TREE[$s]}" rev-parse --short HEAD 2>/dev/null || echo '?')" \
      "tree ${TREE[$s]}, database ${DB[$s]} ($(psql -h 127.0.0.1 -U postgres -d "${DB[$s]}" \
      -Atc 'select count(*) from issue') issues, alembic $(psql -h 127.0.0.1 -U postgres \
      -d "${DB[$s]}" -Atc 'select version_num from alembic_version'))"
  done
  echo "windows: ${WARMUP} s warm-up + ${DURATION} s, levels ($LEVELS) then the mix (1 in $EVERY" \
    "after a write, $MIX_PERIOD), $ROUNDS interleaved rounds"
  echo "scenarios: $SCENARIOS; rounds from $FIRST_ROUND"
  echo "uptime: $(uptime)"
} | tee -a "$OUT/meta.txt"

for s in a b; do
  PYTHONPATH=${TREE[$s]} DATABASE_URL=$(url $s) timeout "$LIFETIME" \
    "$VENV/bin/closedloop" serve --port "${PORT[$s]}" --no-access-log >"$OUT/$s.server.log" 2>&1 &
  PIDS[$s]=$!
done
for s in a b; do
  for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:${PORT[$s]}/healthz" >/dev/null 2>&1 && break
    kill -0 "${PIDS[$s]}" 2>/dev/null || { cat "$OUT/$s.server.log"; exit 1; }
    sleep 0.5
  done
done

for round in $(seq "$FIRST_ROUND" $((FIRST_ROUND + ROUNDS - 1))); do
  for level in $LEVELS; do
    for scenario in $SCENARIOS; do
      # province_dashboard keeps its old file names (the report reads both).
      tag=$([[ $scenario == province_dashboard ]] && echo "" || echo "$scenario.")
      for s in a b; do
        echo; echo "=== round $round, $level concurrent, $scenario, ${NAME[$s]} ($(cut -d' ' -f1 /proc/loadavg)) ==="
        procs=$(( level >= 16 ? 2 : 1 ))
        PYTHONPATH=$B_TREE $PY bench/harness.py --url "http://127.0.0.1:${PORT[$s]}" \
          --server-pid "${PIDS[$s]}" --scenario "$scenario" --label "${NAME[$s]}" \
          --duration "$DURATION" --warmup "$WARMUP" --connections "$level" --processes "$procs" \
          ${PG_PID:+--pg-pid "$PG_PID"} --pg-match "${DB[$s]} " --database-url "$(url $s)" \
          --json "$OUT/$s.${tag}c$level.r$round.json" | tail -3 || true
        echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/$s.${tag}c$level.r$round.load"
      done
    done
  done
  if [[ $EVERY -gt 0 ]]; then
    for s in a b; do
      echo; echo "=== round $round, mix (16 concurrent, 1 in $EVERY after a write), ${NAME[$s]} ==="
      PYTHONPATH=$B_TREE $PY -m bench.dashboard_mix --url "http://127.0.0.1:${PORT[$s]}" \
        --server-pid "${PIDS[$s]}" --pg-match "${DB[$s]} " --connections 16 --every "$EVERY" \
        --period "$MIX_PERIOD" --duration "$DURATION" --warmup "$WARMUP" --label "${NAME[$s]}" \
        --json "$OUT/$s.mix.r$round.json" || true
    done
  fi
done
stop_all
echo
PYTHONPATH=$B_TREE $PY -m bench.dashboard_ab "$OUT" | tee "$OUT/report.md"
echo "results in $OUT"
