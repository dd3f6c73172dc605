#!/usr/bin/env bash
# The mixed portal workload (issue 18), interleaved: closedloop and PostGraphile started once,
# each round measures in turn the whole mix on closedloop with warm caches, the same with its
# caches emptied every COLD_INTERVAL s (SIGUSR1), the operations both serve on closedloop and
# on PostGraphile (same seed, same weights), and, with FRESH=1, the whole mix on a closedloop
# server started just before the window (no warm-up). Then each operation alone (SOLO=1):
# closedloop warm, closedloop with every cache emptied before each request (one connection),
# PostGraphile. Prints `python -m bench.mixed report`. Loopback only; every process it
# starts is bounded by `timeout` and stopped by its pid on exit.
#
#   DB=closedloop_bench_1m bench/mixed.sh
#
# Environment (defaults): DB (closedloop_bench_1m), ROUNDS (3), DURATION (30), WARMUP (5),
# CONNECTIONS (16), PROCESSES (2), SUBSCRIBERS (20, during the closedloop mix windows),
# COLD_INTERVAL (1.0), FRESH (1), SOLO (1), SOLO_DURATION (8), SOLO_OPS (every operation),
# SOLO_ROUNDS (1), SOLO_COLD (1: also each operation cold), PREPARE_OPS (render only these
# into an OUT prepared before; default all), SEED (1), SAMPLE (20 counties
# with board, department and enterprise accounts), PER_OP (12 items per operation), WEIGHTS
# (op=weight,… over the default mix), BASE_PORT (8101: closedloop; PostGraphile +2),
# OUT (bench/out/mixed-<db>-<time>; an OUT with accounts.json and plan.json is reused),
# PG_POOL_SIZE (16: PostGraphile's connections; PostgreSQL's 100 slots are shared),
# CLOSEDLOOP_JWT_SECRET (a fixed bench secret), VENV (.venv). closedloop runs with
# CLOSEDLOOP_RATE_LIMIT_POINTS=0 (many accounts, but each sends far more than a person),
# the sweeper and the relay off. Needs the database migrated, seeded (demo) and generated
# (bench/README.md) and `npm install` done in bench/postgraphile. Writes issues: a
# benchmark database only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DB=${DB:-closedloop_bench_1m}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-5}
CONNECTIONS=${CONNECTIONS:-16}
PROCESSES=${PROCESSES:-2}
SUBSCRIBERS=${SUBSCRIBERS:-20}
COLD_INTERVAL=${COLD_INTERVAL:-1.0}
FRESH=${FRESH:-1}
SOLO=${SOLO:-1}
SOLO_DURATION=${SOLO_DURATION:-8}
SOLO_OPS=${SOLO_OPS:-}
SOLO_ROUNDS=${SOLO_ROUNDS:-1}
SOLO_COLD=${SOLO_COLD:-1}
PREPARE_OPS=${PREPARE_OPS:-}
SEED=${SEED:-1}
SAMPLE=${SAMPLE:-20}
PER_OP=${PER_OP:-12}
WEIGHTS=${WEIGHTS:-}
OUT=${OUT:-bench/out/mixed-$DB-$(date -u +%Y%m%dT%H%M%SZ)}
export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB
export CLOSEDLOOP_JWT_SECRET=${CLOSEDLOOP_JWT_SECRET:-bench-secret-0123456789-abcdefghijklmnop}
export CLOSEDLOOP_SWEEP_INTERVAL_SECONDS=0 CLOSEDLOOP_RELAY_INTERVAL_SECONDS=0
export CLOSEDLOOP_RATE_LIMIT_POINTS=0
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}  # serve this tree's code
PG_PID=$(head -1 /var/lib/postgresql/15/main/postmaster.pid 2>/dev/null || true)
LIFETIME=$((ROUNDS * 5 * (WARMUP + DURATION + 40) + SOLO * SOLO_ROUNDS * 60 * (WARMUP + SOLO_DURATION + 15) + 900))
mkdir -p "$OUT"
BASE_PORT=${BASE_PORT:-8101}
declare -A PORT=([closedloop]=$BASE_PORT [postgraphile]=$((BASE_PORT + 2)))
declare -A PIDS=()

stop_pid() {  # $1: a `timeout` pid of ours
  if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
stop_all() { for pid in "${PIDS[@]}"; do stop_pid "$pid"; done; PIDS=(); }
trap stop_all EXIT INT TERM

start_server() {  # $1: server name; sets PIDS[$1] (the `timeout` process)
  local log="$OUT/$1.server.log"
  case $1 in
    closedloop)
      timeout "$LIFETIME" "$VENV/bin/closedloop" serve --port "${PORT[$1]}" --no-access-log \
        >>"$log" 2>&1 &
      ;;
    postgraphile)
      PORT=${PORT[$1]} timeout "$LIFETIME" node bench/postgraphile/server.js >>"$log" 2>&1 &
      ;;
  esac
  PIDS[$1]=$!
  for _ in $(seq 120); do
    if curl -sf "http://127.0.0.1:${PORT[$1]}/healthz" >/dev/null 2>&1; then return 0; fi
    kill -0 "${PIDS[$1]}" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.5
  done
  echo "$1 did not come up"; cat "$log"; return 1
}

url() { echo "http://127.0.0.1:${PORT[$1]}"; }

window() {  # $1 server, $2 label, $3 round, then extra arguments of `bench.mixed run`
  local server=$1 label=$2 rnd=$3; shift 3
  $PY -m bench.mixed run --url "$(url "$server")" --server "$server" --out "$OUT" \
    --label "$label" --round "$rnd" --server-pid "${PIDS[$server]}" --seed "$SEED" \
    ${PG_PID:+--pg-pid "$PG_PID"} --pg-match "closedloop_app $DB " \
    --database-url "$DATABASE_URL" ${WEIGHTS:+--weights "$WEIGHTS"} "$@" \
    2>&1 | tee -a "$OUT/windows.log" || true
}

{
  echo "date (UTC):  $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "database:    $DB ($(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc \
    'select count(*) from issue') issues, alembic $(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc \
    'select version_num from alembic_version'))"
  echo "revision:    $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "load:        $CONNECTIONS connections, $PROCESSES client processes, ${WARMUP} s warm-up +"\
       "${DURATION} s per window, $ROUNDS interleaved rounds; $SUBSCRIBERS subscribers;"\
       "cold: caches emptied every ${COLD_INTERVAL} s; seed $SEED; weights ${WEIGHTS:-default}"
  echo "uptime:      $(uptime)"
} | tee "$OUT/meta.txt"

start_server closedloop
start_server postgraphile
[[ -f $OUT/accounts.json ]] || $PY -m bench.mixed setup --url "$(url closedloop)" --out "$OUT" \
  --seed "$SEED" --sample "$SAMPLE"
# shellcheck disable=SC2086  # PREPARE_OPS: a list of operations
$PY -m bench.mixed prepare --url "$(url closedloop)" --server closedloop --out "$OUT" \
  --seed "$SEED" --per-op "$PER_OP" ${PREPARE_OPS:+--ops $PREPARE_OPS}
# shellcheck disable=SC2086
$PY -m bench.mixed prepare --url "$(url postgraphile)" --server postgraphile --out "$OUT" \
  --seed "$SEED" ${PREPARE_OPS:+--ops $PREPARE_OPS}

for rnd in $(seq "$ROUNDS"); do
  echo "=== round $rnd $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  window closedloop mix-warm "$rnd" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "$CONNECTIONS" --processes "$PROCESSES" --subscribers "$SUBSCRIBERS"
  window closedloop mix-cold "$rnd" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "$CONNECTIONS" --processes "$PROCESSES" --subscribers "$SUBSCRIBERS" \
    --cold-interval "$COLD_INTERVAL"
  window closedloop shared "$rnd" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "$CONNECTIONS" --processes "$PROCESSES" --shared-only
  window postgraphile shared "$rnd" --duration "$DURATION" --warmup "$WARMUP" \
    --connections "$CONNECTIONS" --processes "$PROCESSES" --shared-only
  if [[ $FRESH == 1 ]]; then
    stop_pid "${PIDS[closedloop]}"
    start_server closedloop
    window closedloop mix-fresh "$rnd" --duration "$DURATION" --warmup 0 \
      --connections "$CONNECTIONS" --processes "$PROCESSES"
  fi
done

if [[ $SOLO == 1 ]]; then
  ops=${SOLO_OPS:-$($PY -c 'from bench.mixed_ops import OPS; print(" ".join(OPS))')}
  shared=$($PY -c 'from bench.mixed_ops import OPS; print(" ".join(k for k, o in OPS.items() if o.shared))')
  for rnd in $(seq "$SOLO_ROUNDS"); do
    for op in $ops; do
      echo "=== alone: $op, round $rnd $(date -u +%T) load: $(cut -d' ' -f1-3 /proc/loadavg)"
      window closedloop "solo-$op" "$rnd" --only "$op" --duration "$SOLO_DURATION" \
        --warmup "$WARMUP" --connections "$CONNECTIONS" --processes "$PROCESSES"
      if [[ " $shared " == *" $op "* ]]; then
        window postgraphile "solo-$op" "$rnd" --only "$op" --duration "$SOLO_DURATION" \
          --warmup "$WARMUP" --connections "$CONNECTIONS" --processes "$PROCESSES"
      fi
      if [[ $SOLO_COLD == 1 ]]; then
        window closedloop "solo-cold-$op" "$rnd" --only "$op" --duration "$SOLO_DURATION" \
          --warmup 2 --connections 1 --processes 1 --cold-each
      fi
    done
  done
fi
stop_all
echo
$PY -m bench.mixed report "$OUT" | tee "$OUT/report.md"
echo "results in $OUT"
