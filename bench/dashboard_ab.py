"""Report of ``bench/dashboard_ab.sh``: every window, then the medians per build and load.

python -m bench.dashboard_ab bench/out/dashboard_ab-<time>
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def _f(value: float | None, fmt: str = ".1f") -> str:
    return "-" if value is None else format(value, fmt)


def report(out: Path) -> str:
    meta = (out / "meta.txt").read_text() if (out / "meta.txt").exists() else ""
    found = [m.group(1) for m in re.finditer(r"^(\S+): \S+ tree", meta, re.MULTILINE)]
    names = dict(zip("ab", found + ["a", "b"][len(found) :], strict=False))
    windows: dict[tuple[str, str], list[dict[str, Any]]] = {}
    failed: list[str] = []
    for path in sorted(out.glob("*.json")):
        m = re.match(r"([ab])\.(?:([a-z_]+)\.)?(c\d+|mix)\.r(\d+)\.json", path.name)
        if not m:
            continue
        data = json.loads(path.read_text())
        row = data[0] if isinstance(data, list) else data
        if row["errors"]:
            # Failed requests (on a shared machine: PostgreSQL out of connection slots, a
            # client timeout, the request budget): the window is listed, not counted.
            failed.append(
                f"{path.name}: {row['errors']} errors of {row['requests'] + row['errors']},"
                f" p50 {row['p50_ms']:.0f} ms, {row.get('first_error')}"[:300]
            )
            continue
        load = f"{m.group(2)} {m.group(3)}" if m.group(2) else m.group(3)
        windows.setdefault((m.group(1), load), []).append(row)
    lines = [
        "| build | load | windows | req/s | p50 ms | p95 ms | p99 ms | server CPU ms/req"
        " | PG backends ms/req | after a write p50 / p95 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]

    def level(load: str) -> str:
        return load.rsplit(" ", 1)[-1]

    order = sorted(
        windows,
        key=lambda k: (
            k[1].split(" ")[0] if " " in k[1] else "",
            level(k[1]) == "mix",
            int(level(k[1])[1:]) if level(k[1]) != "mix" else 0,
            k[0],
        ),
    )
    for server, load in order:
        rows = windows[(server, load)]
        mix = level(load) == "mix"
        cpu = "server_cpu_ms_per_dashboard" if mix else "server_cpu_ms_per_req"
        pg = "backend_cpu_ms_per_dashboard" if mix else "backend_cpu_ms_per_req"
        after = (
            f"{_f(_median([r['after_write_p50_ms'] for r in rows]))} /"
            f" {_f(_median([r['after_write_p95_ms'] for r in rows]))}"
            if mix
            else "–"
        )
        scenario = f"{load.split(' ')[0]}, " if " " in load else ""
        label = (
            f"16 + writes (1 in {rows[0]['every']})"
            if mix
            else f"{scenario}{level(load)[1:]} concurrent"
        )
        lines.append(
            f"| {names[server]} | {label} | {len(rows)} | {_f(_median([r['rps'] for r in rows]))}"
            f" | {_f(_median([r['p50_ms'] for r in rows]))}"
            f" | {_f(_median([r['p95_ms'] for r in rows]))}"
            f" | {_f(_median([r['p99_ms'] for r in rows]))}"
            f" | {_f(_median([r[cpu] for r in rows]), '.2f')}"
            f" | {_f(_median([r[pg] for r in rows]), '.2f')} | {after} |"
        )
    lines.append("")
    lines.append("Every window (p50 / p95 / p99 ms, server CPU ms/req):")
    for server, load in order:
        for i, r in enumerate(windows[(server, load)], 1):
            spent = r.get("server_cpu_ms_per_dashboard", r.get("server_cpu_ms_per_req"))
            lines.append(
                f"- {names[server]} {load} r{i}: {r['p50_ms']:.1f} / {r['p95_ms']:.1f} /"
                f" {r['p99_ms']:.1f}, {_f(spent, '.2f')}"
            )
    if failed:
        lines.append("")
        lines.append("Windows left out (requests failed):")
        lines += [f"- {f}" for f in failed]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1])))
