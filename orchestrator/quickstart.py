"""The main job: the quickstart sweep on the embedded default (local Ray, local Parquet store, UCI-HAR).

1. imports the on-device measurements of every board folder in RECORDS into the store's LUT folder
   (idempotent: importing the same records again changes nothing) and fits the latency predictor;
2. runs the sweep spec (examples/quickstart.yaml: two boards x two latency budgets, Optuna tuning
   the hardware-loss weights; every trial searches, retrains, quantises, verifies in TFLite-Micro
   and stores its row and bundle) — resumed, not repeated, when run again;
3. prints the results table and writes the Pareto report, whose path is the last line.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from .cli import main as micronas


def _run(*args: str, allow: tuple[int, ...] = (0,)) -> int:
    print(f"\n$ micronas {shlex.join(args)}", flush=True)
    code = micronas(list(args))
    if code not in allow:
        sys.exit(code)
    return code


def run(spec_path: Path, records: Path, report_dir: str | None) -> None:
    from ._spec import load_spec

    start = time.perf_counter()
    spec = load_spec(spec_path)
    boards = sorted(p.name for p in records.iterdir() if p.is_dir() and p.name in spec.mcus)
    missing = sorted(set(spec.mcus) - set(boards))
    if missing:
        sys.exit(f"quickstart: no measurements for {', '.join(missing)} in {records}")
    for board in boards:
        _run("lut", "import", "--mcu", board, "--records", str(records / board), "--out", spec.lut)
    _run("lut", "fit", "--lut", spec.lut)
    code = _run("sweep", str(spec_path), allow=(0, 1))   # 1: some trial failed; still report
    _run("results", "--storage", spec.storage, "--sweep", spec.name)
    report = report_dir or str(Path(spec.storage).parent / "report")
    _run("report", "--storage", spec.storage, "--out", report)
    print(f"\nquickstart done in {(time.perf_counter() - start) / 60:.1f} min"
          f"{' (some trials failed: see the table)' if code else ''}")
    print(f"report: {Path(report).resolve() / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("examples/quickstart.yaml"))
    parser.add_argument("--records", type=Path, default=Path("../shared/mcu-measurements"))
    parser.add_argument("--report", default=None, help="report folder (default: beside the store)")
    args = parser.parse_args(argv)
    if not args.records.is_dir():
        sys.exit(f"quickstart: {args.records}: no such folder of board measurements")
    run(args.spec, args.records, args.report)


if __name__ == "__main__":
    main()
