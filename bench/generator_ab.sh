#!/usr/bin/env bash
# A/B of the data generator, interleaved: OLD=<worktree of the version to compare with>,
# NEW=<this worktree> (default .); each run on a fresh copy of a template database (migrated
# + seed demo): OLD_TPL for the old version, NEW_TPL for the new (default both
# closedloop_bench_house_tpl; give each version a template at its own alembic head when
# their migrations differ). Never run anything else on a template: planning takes ids from
# its sequences. Same seed: the report digests (state and share lines) must match across
# versions; the row digest (every generated row of enterprise, issue, issue_event,
# issue_custody and issue_rating) must match across runs of one version and between two
# versions with the same schema.
N=${N:-20000}; ROUNDS=${ROUNDS:-3}
PY=${PY:-$(pwd)/.venv/bin/python}
PSQL="psql -h 127.0.0.1 -U postgres -At"
RUN=${RUN_DB:-closedloop_bench_house_run}
OUT=${TMPDIR:-/tmp}
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for v in $order; do
    dir=${NEW:-.}; tpl=${NEW_TPL:-closedloop_bench_house_tpl}
    if [ $v = old ]; then
      dir=${OLD:?a worktree of the version to compare with}; tpl=${OLD_TPL:-closedloop_bench_house_tpl}
    fi
    dropdb -h 127.0.0.1 -U postgres --if-exists $RUN
    createdb -h 127.0.0.1 -U postgres -T $tpl $RUN
    (cd $dir && PYTHONPATH=$dir DATABASE_URL=postgresql://postgres@127.0.0.1:5432/$RUN \
      /usr/bin/time -f "%U %S %e %M" -o $OUT/ab_time.txt \
      $PY -m bench generate --issues $N --seed 1 --now 2026-12-01T00:00:00+00:00 --workers ${WORKERS:-1} \
      > $OUT/ab_out.txt 2>/dev/null)
    read -r user sys wall rss < $OUT/ab_time.txt
    out=$(cat $OUT/ab_out.txt)
    echo "round $r $v: user-cpu $user s  sys $sys s  wall $wall s  max-rss ${rss} KB | $(echo "$out" | head -1)"
    echo "   report digest $v $(echo "$out" | sed -n 2,3p | md5sum | cut -c1-32)"
    rows=$(for table in enterprise issue issue_event issue_custody issue_rating; do
      $PSQL -d $RUN -c \
        "SELECT '$table', count(*), md5(string_agg(md5(x::text), '' ORDER BY id)) FROM $table x"
    done)
    echo "   row digest $v $(echo "$rows" | md5sum | cut -c1-32)"
  done
done
dropdb -h 127.0.0.1 -U postgres --if-exists $RUN
