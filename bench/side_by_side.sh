#!/usr/bin/env bash
# Side by side (issues 7 and 18): the county pool page, and the nested pool page (timelines,
# custody ledgers, enterprises, regions), on closedloop, the floor (pool page only) and
# PostGraphile v4, against the same database with the same load, INTERLEAVED: every server
# is started once and idles while another is measured; each round measures every shape on
# every server in turn (A B C A B C …), so a neighbour's noise falls on all of them alike.
# Prints each round's table, the ratios per round and their medians. Loopback only; every
# process it starts is bounded by `timeout` and stopped by its pid on exit.
#
#   bench/side_by_side.sh                         # closedloop_bench_1m, 3 rounds, 16 conns
#   DB=closedloop_bench ROUNDS=5 DURATION=20 bench/side_by_side.sh
#
# Environment (defaults): DB (closedloop_bench_1m), ROUNDS (3), SHAPES ("pool nested"),
# DURATION (30), WARMUP (10), CONNECTIONS (16), PROCESSES (2 client processes: one httpx
# process costs ~4 ms of CPU per request and, on a shared 2-core machine, would cap the
# floor's and PostGraphile's req/s), SERVERS ("closedloop floor postgraphile"),
# OUT (bench/out/side_by_side-<db>-<time>), PROFILE (0; 1: after the rounds, py-spy records
# each Python server for 15 s under the pool page's load), CLOSEDLOOP_JWT_SECRET (a fixed
# bench secret), VENV (.venv), BASE_PORT (8001: closedloop; the floor +1, PostGraphile +2,
# "before" +3). BEFORE_TREE: another checkout (say main before a change) served as the
# server "before" when SERVERS names it, measured in the same rounds as this tree's
# closedloop (the report adds closedloop ÷ before). closedloop runs with CLOSEDLOOP_RATE_LIMIT_POINTS=0 (no rate limit: the
# load comes from one account). Needs: the database migrated and generated
# (bench/README.md), `npm install` done in bench/postgraphile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DB=${DB:-closedloop_bench_1m}
ROUNDS=${ROUNDS:-3}
SHAPES=${SHAPES:-pool nested}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-10}
CONNECTIONS=${CONNECTIONS:-16}
PROCESSES=${PROCESSES:-2}
SERVERS=${SERVERS:-closedloop floor postgraphile}
PROFILE=${PROFILE:-0}
OUT=${OUT:-bench/out/side_by_side-$DB-$(date -u +%Y%m%dT%H%M%SZ)}
export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$DB
export CLOSEDLOOP_JWT_SECRET=${CLOSEDLOOP_JWT_SECRET:-bench-secret-0123456789-abcdefghijklmnop}
export CLOSEDLOOP_SWEEP_INTERVAL_SECONDS=0 CLOSEDLOOP_RELAY_INTERVAL_SECONDS=0
export CLOSEDLOOP_RATE_LIMIT_POINTS=0
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}  # serve this tree's code
PG_PID=$(head -1 /var/lib/postgresql/15/main/postmaster.pid 2>/dev/null || true)
NSERVERS=$(wc -w <<<"$SERVERS"); NSHAPES=$(wc -w <<<"$SHAPES")
# upper bound of each server's life, seconds: every window of every round, and slack
LIFETIME=$((ROUNDS * NSERVERS * NSHAPES * (WARMUP + DURATION + 30) + 300))
mkdir -p "$OUT"

BASE_PORT=${BASE_PORT:-8001}
declare -A PORT=([closedloop]=$BASE_PORT [floor]=$((BASE_PORT + 1))
                 [postgraphile]=$((BASE_PORT + 2)) [before]=$((BASE_PORT + 3)))
# server.shape -> harness scenario (the floor answers the pool page only)
declare -A SCENARIO=([closedloop.pool]=county_pool [floor.pool]=county_pool
                     [postgraphile.pool]=county_pool_postgraphile
                     [closedloop.nested]=county_pool_nested
                     [postgraphile.nested]=county_pool_nested_postgraphile
                     [before.pool]=county_pool [before.nested]=county_pool_nested)

SERVER_PID=""
declare -A PIDS=()
stop_pid() {  # $1: a `timeout` pid of ours
  if [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true          # `timeout` passes it to the server
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
stop_all() {
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  PIDS=()
}
trap stop_all EXIT INT TERM

start_server() {  # $1: server name; sets SERVER_PID (the `timeout` process; the server is its child)
  local log="$OUT/$1.server.log"
  case $1 in
    closedloop)
      # --no-access-log: as the floor (uvicorn --no-access-log) and PostGraphile (no log)
      timeout "$LIFETIME" "$VENV/bin/closedloop" serve --port "${PORT[$1]}" --no-access-log \
        >"$log" 2>&1 &
      ;;
    before)
      [[ -n ${BEFORE_TREE:-} ]] || { echo "SERVERS names before: set BEFORE_TREE"; return 1; }
      PYTHONPATH=$BEFORE_TREE timeout "$LIFETIME" "$VENV/bin/closedloop" serve \
        --port "${PORT[$1]}" --no-access-log >"$log" 2>&1 &
      ;;
    floor)
      timeout "$LIFETIME" "$VENV/bin/uvicorn" --app-dir bench floor:app --host 127.0.0.1 \
        --port "${PORT[$1]}" --workers 1 --no-access-log >"$log" 2>&1 &
      ;;
    postgraphile)
      PORT=${PORT[$1]} timeout "$LIFETIME" node bench/postgraphile/server.js >"$log" 2>&1 &
      ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 120); do
    if curl -sf "http://127.0.0.1:${PORT[$1]}/healthz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; return 1; }
    sleep 0.5
  done
  echo "$1 did not come up"; cat "$log"; return 1
}

{
  echo "date (UTC):      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "database:        $DB ($(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc \
    'select count(*) from issue') issues, alembic $(psql -h 127.0.0.1 -U postgres -d "$DB" -Atc \
    'select version_num from alembic_version'))"
  # a worktree's .git is a file: ask git; a copy without git says REVISION (or unknown)
  echo "revision:        $(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo "${REVISION:-unknown}")"
  if [[ -n ${BEFORE_TREE:-} ]]; then
    echo "before:          $BEFORE_TREE at $(git -C "$BEFORE_TREE" rev-parse HEAD 2>/dev/null || echo unknown)"
  fi
  echo "closedloop/*.py: sha256 $(find closedloop -name '*.py' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16) (working tree, as served)"
  echo "load:            $CONNECTIONS connections, $PROCESSES client process(es),"\
       "${WARMUP} s warm-up + ${DURATION} s measured per window; $ROUNDS interleaved rounds"\
       "of shapes ($SHAPES) x servers ($SERVERS), every server up throughout"
  echo "uptime:          $(uptime)"
} | tee "$OUT/meta.txt"

for server in $SERVERS; do
  start_server "$server"
  PIDS[$server]=$SERVER_PID
  echo "$server: port ${PORT[$server]}, pid $SERVER_PID (timeout)" \
    "-> $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null)"
  for shape in $SHAPES; do
    scenario=${SCENARIO[$server.$shape]:-}
    [[ -n $scenario ]] || continue
    $PY bench/side_by_side.py fetch --url "http://127.0.0.1:${PORT[$server]}" \
      --scenario "$scenario" --out "$OUT/$server.$shape.response.json"
  done
done

for round in $(seq "$ROUNDS"); do
  for shape in $SHAPES; do
    for server in $SERVERS; do
      scenario=${SCENARIO[$server.$shape]:-}
      [[ -n $scenario ]] || continue
      echo
      echo "=== round $round, $shape, $server (port ${PORT[$server]}) ==="
      $PY bench/harness.py --url "http://127.0.0.1:${PORT[$server]}" \
        --server-pid "${PIDS[$server]}" --scenario "$scenario" --label "$server" \
        --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" \
        --processes "$PROCESSES" ${PG_PID:+--pg-pid "$PG_PID"} \
        --pg-match "closedloop_app $DB " --database-url "$DATABASE_URL" \
        --json "$OUT/$server.$shape.r$round.json" \
        | tee "$OUT/$server.$shape.r$round.harness.txt" || true
    done
  done
done

if [[ $PROFILE == 1 ]]; then
  for server in closedloop floor; do
    [[ -n ${PIDS[$server]:-} ]] || continue
    child=$(cat /proc/"${PIDS[$server]}"/task/*/children | awk '{print $1}')
    $PY bench/harness.py --url "http://127.0.0.1:${PORT[$server]}" \
      --scenario "${SCENARIO[$server.pool]}" --duration 20 --warmup 0 \
      --connections "$CONNECTIONS" --processes "$PROCESSES" >/dev/null &
    load=$!
    sleep 3
    timeout 60 "$VENV/bin/py-spy" record -r 100 -d 15 -f raw \
      -o "$OUT/$server.pyspy.txt" -p "$child" >/dev/null 2>&1 || true
    wait "$load" || true
    $PY bench/side_by_side.py profile "$OUT/$server.pyspy.txt" | tee "$OUT/$server.profile.txt"
  done
fi
stop_all

echo
echo "=== side by side: $DB, $CONNECTIONS connections, $ROUNDS interleaved rounds of" \
  "${DURATION} s after ${WARMUP} s warm-up ==="
echo
$PY bench/side_by_side.py report "$OUT" | tee "$OUT/report.md"
echo
echo "results in $OUT"
