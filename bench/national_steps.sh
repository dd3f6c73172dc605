#!/usr/bin/env bash
# Grow a national benchmark database in steps, measuring after each (issue 19; figures in
# bench/RESULTS.md, "The whole country"). The generator adds to what is there, so a step
# that is not reached in time leaves the earlier ones measured.
#
#   createdb -h 127.0.0.1 -U postgres closedloop_bench_national
#   export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_national
#   .venv/bin/closedloop migrate
#   .venv/bin/closedloop seed regions --file ../shared/data/regions_cn.csv
#   .venv/bin/closedloop seed demo
#   nohup bench/national_steps.sh 2000000:1 3000000:2 5000000:3 > national.log 2>&1 &
#
# Each argument is ISSUES:SEED, issues added over the whole country (ROOT='' by default;
# another seed per step, or the step repeats the same lives). After each step: VACUUM
# (ANALYZE) timed, then bench/national_sizes.sql, and free disk before and after.
set -euo pipefail
: "${DATABASE_URL:?set DATABASE_URL to the benchmark database}"
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${ROOT-}
NOW=${NOW:-2026-12-06T16:00:00+00:00}
for spec in "$@"; do
  issues=${spec%%:*}
  seed=${spec##*:}
  echo "=== +$issues issues (seed $seed, root '$ROOT') at $(date -u +%T); $(df -h "$here" | tail -1)"
  python -m bench generate --root "$ROOT" --issues "$issues" --seed "$seed" --now "$NOW" \
    --workers "${WORKERS:-2}" --streams "${STREAMS:-2}"
  start=$(date +%s.%N)
  psql "$DATABASE_URL" -c 'VACUUM (ANALYZE) issue, issue_event, issue_custody, issue_rating, enterprise'
  echo "vacuum analyze: $(echo "$(date +%s.%N) - $start" | bc) s"
  psql "$DATABASE_URL" -f "$here/national_sizes.sql"
  echo "=== measured at $(date -u +%T); $(df -h "$here" | tail -1)"
done
