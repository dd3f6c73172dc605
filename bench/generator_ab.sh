#!/usr/bin/env bash
# A/B of the data generator, interleaved: OLD=<worktree of the version to compare with>,
# NEW=<this worktree> (default .); each run on a fresh copy of the template database
# closedloop_bench_house_tpl (migrated + seed demo). Same seed: the digests must match.
N=${N:-20000}; ROUNDS=${ROUNDS:-3}
PY=${PY:-$(pwd)/.venv/bin/python}
for r in $(seq 1 $ROUNDS); do
  if [ $((r % 2)) -eq 1 ]; then order="old new"; else order="new old"; fi
  for v in $order; do
    dir=${NEW:-.}; [ $v = old ] && dir=${OLD:?a worktree of the version to compare with}
    dropdb -h 127.0.0.1 -U postgres --if-exists closedloop_bench_house_run
    createdb -h 127.0.0.1 -U postgres -T closedloop_bench_house_tpl closedloop_bench_house_run
    TIMEFORMAT="%U"
    { time (cd $dir && DATABASE_URL=postgresql://postgres@127.0.0.1:5432/closedloop_bench_house_run \
      $PY -m bench generate --issues $N --seed 1 --now 2026-12-01T00:00:00+00:00 --workers ${WORKERS:-1} \
      > ${TMPDIR:-/tmp}/ab_out.txt 2>/dev/null) ; } 2> ${TMPDIR:-/tmp}/ab_cpu.txt
    out=$(cat ${TMPDIR:-/tmp}/ab_out.txt)
    echo "round $r $v: user-cpu $(cat ${TMPDIR:-/tmp}/ab_cpu.txt) s | $(echo "$out" | head -1)"
    echo "$out" | sed -n 2,3p | md5sum | sed "s/^/   digest $v /"
  done
done
