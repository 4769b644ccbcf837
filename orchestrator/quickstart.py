"""The main job: the quickstart sweep on the embedded default (local Ray, local Parquet store, UCI-HAR).

1. imports the on-device measurements of every board folder in RECORDS into the store's LUT folder
   (idempotent: importing the same records again changes nothing) and fits the latency predictor;
2. runs the sweep spec (examples/quickstart.yaml: two boards x two latency budgets, Optuna tuning
   the hardware-loss weights; every trial searches, retrains, quantises, verifies in TFLite-Micro
   and stores its row and bundle) — resumed, not repeated, when run again;
3. prints the results table and writes the Pareto report, whose path is the last line.

All of it fits on one screen: a line per set-up step, a line per finished trial and the sweep's
progress bar (`--verbose`: Ray Tune's status tables as well), the table, the report.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import sys
import time
from pathlib import Path

from .cli import main as micronas


def _run(*args: str, allow: tuple[int, ...] = (0,), brief: bool = False) -> int:
    """Run one `micronas` command as a user would; `brief`: its last line only, beside the
    command (the set-up steps: the LUT import's per-op counts are not what a first run reads),
    or everything it printed if it failed."""
    command = f"$ micronas {shlex.join(args)}"
    if not brief:
        print(command, flush=True)
        code = micronas(list(args))
    else:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = micronas(list(args))
        lines = out.getvalue().strip().splitlines()
        if code in allow:
            print(f"{command}  # {lines[-1] if lines else 'done'}", flush=True)
        else:
            print(command, *lines, sep="\n", flush=True)
    if code not in allow:
        sys.exit(code)
    return code


def run(spec_path: Path, records: Path, report_dir: str | None, verbose: bool = False) -> None:
    from ._spec import load_spec

    start = time.perf_counter()
    spec = load_spec(spec_path)
    boards = sorted(p.name for p in records.iterdir() if p.is_dir() and p.name in spec.mcus)
    missing = sorted(set(spec.mcus) - set(boards))
    if missing:
        sys.exit(f"quickstart: no measurements for {', '.join(missing)} in {records}")
    for board in boards:
        _run("lut", "import", "--mcu", board, "--records", str(records / board), "--out", spec.lut,
             brief=True)
    _run("lut", "fit", "--lut", spec.lut, brief=True)
    code = _run("sweep", str(spec_path), *(["--verbose"] if verbose else []),
                allow=(0, 1))   # 1: some trial failed; still report
    _run("results", "--storage", spec.storage, "--sweep", spec.name)
    report = report_dir or str(Path(spec.storage).parent / "report")
    _run("report", "--storage", spec.storage, "--out", report)
    # One line: the run's outcome and, last, the report's path.
    print(f"quickstart done in {(time.perf_counter() - start) / 60:.1f} min"
          f"{' (some trials failed: see the table)' if code else ''}; "
          f"report: {Path(report).resolve() / 'index.html'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path("examples/quickstart.yaml"))
    parser.add_argument("--records", type=Path, default=Path("../shared/mcu-measurements"))
    parser.add_argument("--report", default=None, help="report folder (default: beside the store)")
    parser.add_argument("--verbose", action="store_true",
                        help="Ray Tune's status tables as well as the trial lines")
    args = parser.parse_args(argv)
    if not args.records.is_dir():
        sys.exit(f"quickstart: {args.records}: no such folder of board measurements")
    run(args.spec, args.records, args.report, verbose=args.verbose)


if __name__ == "__main__":
    main()
