#!/usr/bin/env bash
# Side by side (issue 7): the county pool page on closedloop, the floor and PostGraphile v4,
# one after another against the same database, with the same load; prints the table and
# the ratios to the floor. Loopback only; every process it starts is bounded by `timeout`
# and stopped (by its pid) before the next one starts, and again on exit.
#
#   bench/side_by_side.sh                         # closedloop_bench_1m, 16 conns, 10 s + 30 s
#   DB=closedloop_bench PROFILE=1 bench/side_by_side.sh
#
# Environment (defaults): DB (closedloop_bench_1m), DURATION (30), WARMUP (10),
# CONNECTIONS (16), PROCESSES (2 client processes: one httpx process costs ~4 ms of CPU per
# request and, on a shared 2-core machine, would cap the floor's and PostGraphile's req/s),
# SERVERS ("closedloop floor postgraphile"), OUT (bench/out/side_by_side-<db>-<time>), PROFILE (0; 1: after each Python server's measured
# run, py-spy records it for 15 s under the same load), CLOSEDLOOP_JWT_SECRET (a fixed bench
# secret). Needs: the database migrated and generated (bench/README.md), `npm install` done
# in bench/postgraphile.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DB=${DB:-closedloop_bench_1m}
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
PY=$ROOT/.venv/bin/python
PG_PID=$(head -1 /var/lib/postgresql/15/main/postmaster.pid 2>/dev/null || true)
LIFETIME=$((WARMUP + DURATION + 150))   # upper bound of each server's life, seconds
mkdir -p "$OUT"

declare -A PORT=([closedloop]=8001 [floor]=8002 [postgraphile]=8003)
declare -A SCENARIO=([closedloop]=county_pool [floor]=county_pool
                     [postgraphile]=county_pool_postgraphile)

SERVER_PID=""
stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true          # `timeout` passes it to the server
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT INT TERM

start_server() {  # $1: server name; sets SERVER_PID (the `timeout` process; the server is its child)
  local log="$OUT/$1.server.log"
  case $1 in
    closedloop)
      # --no-access-log: as the floor (uvicorn --no-access-log) and PostGraphile (no log)
      timeout "$LIFETIME" "$ROOT/.venv/bin/closedloop" serve --port "${PORT[$1]}" --no-access-log \
        >"$log" 2>&1 &
      ;;
    floor)
      timeout "$LIFETIME" "$ROOT/.venv/bin/uvicorn" --app-dir bench floor:app --host 127.0.0.1 \
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
  head_ref=$(cat .git/HEAD)
  echo ".git/HEAD:       $head_ref"
  if [[ $head_ref == ref:* ]]; then
    ref=${head_ref#ref: }
    echo "$ref: $(cat ".git/$ref" 2>/dev/null || grep " $ref\$" .git/packed-refs | cut -d' ' -f1)"
  fi
  echo "closedloop/*.py: sha256 $(find closedloop -name '*.py' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16) (working tree, as served)"
  echo "load:            $CONNECTIONS connections, $PROCESSES client process(es),"\
       "${WARMUP} s warm-up + ${DURATION} s measured, one server at a time"
  echo "uptime:          $(uptime)"
} | tee "$OUT/meta.txt"

for server in $SERVERS; do
  echo
  echo "=== $server (port ${PORT[$server]}) ==="
  start_server "$server"
  echo "pid $SERVER_PID (timeout) -> $(cat /proc/"$SERVER_PID"/task/*/children 2>/dev/null)"
  $PY bench/side_by_side.py fetch --url "http://127.0.0.1:${PORT[$server]}" \
    --scenario "${SCENARIO[$server]}" --out "$OUT/$server.response.json"
  $PY bench/harness.py --url "http://127.0.0.1:${PORT[$server]}" --server-pid "$SERVER_PID" \
    --scenario "${SCENARIO[$server]}" --label "$server" \
    --duration "$DURATION" --warmup "$WARMUP" --connections "$CONNECTIONS" \
    --processes "$PROCESSES" ${PG_PID:+--pg-pid "$PG_PID"} \
    --pg-match "closedloop_app $DB " --database-url "$DATABASE_URL" \
    --json "$OUT/$server.json" | tee "$OUT/$server.harness.txt" || true
  if [[ $PROFILE == 1 && $server != postgraphile ]]; then
    child=$(cat /proc/"$SERVER_PID"/task/*/children | awk '{print $1}')
    $PY bench/harness.py --url "http://127.0.0.1:${PORT[$server]}" \
      --scenario "${SCENARIO[$server]}" --duration 20 --warmup 0 \
      --connections "$CONNECTIONS" --processes "$PROCESSES" >/dev/null &
    load=$!
    sleep 3
    timeout 60 "$ROOT/.venv/bin/py-spy" record -r 100 -d 15 -f raw \
      -o "$OUT/$server.pyspy.txt" -p "$child" >/dev/null 2>&1 || true
    wait "$load" || true
    $PY bench/side_by_side.py profile "$OUT/$server.pyspy.txt" | tee "$OUT/$server.profile.txt"
  fi
  stop_server
done

echo
echo "=== side by side: $DB, $CONNECTIONS connections, ${DURATION} s after ${WARMUP} s warm-up ==="
echo
$PY bench/side_by_side.py report "$OUT" | tee "$OUT/report.md"
echo
echo "results in $OUT"
