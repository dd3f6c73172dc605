"""``python -m bench generate …`` from the repository root (see bench/README.md)."""

from bench.cli import bench_app

bench_app(prog_name="python -m bench")
