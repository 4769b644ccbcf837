"""The main job until the sweep exists: the most complete flow the project has, on real data.

Imports the on-device measurements of every board folder in RECORDS into a LUT, fits the latency
predictor and scores it (cross-validation per board, onboarding across boards), then runs a short
MicroNAS search on UCI-HAR for nucleo-l552ze-q (or the first board) at 25 ms / 64 KB, which also
quantises the found network (QAT, int8), verifies it in TFLite-Micro and writes the firmware bundle;
finally it prices the .tflite file on the board (LUT latency, memory, the real TFLM arena).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .cli import main as micronas



def _run(*args: str) -> None:
    print(f"\n$ micronas {shlex.join(args)}", flush=True)
    code = micronas(list(args))
    if code:
        sys.exit(code)


def run(records: Path, out: str, epochs: int) -> None:
    boards = sorted(p.name for p in records.iterdir() if p.is_dir())
    if not boards:
        sys.exit(f"quickstart: no board folders in {records}")
    lut = f"{out}/lut"
    for board in boards:
        _run("lut", "import", "--mcu", board, "--records", str(records / board), "--out", lut)
    _run("lut", "show", "--lut", lut)
    _run("lut", "fit", "--lut", lut)
    for board in boards:
        _run("lut", "eval", "--lut", lut, "--mcu", board, "--cv", "5")
    if len(boards) > 1:
        # Onboarding: pretend the last board is new; learn from the others plus 50 of its rows.
        new = boards[-1]
        donors = f"{out}/lut-without-{new}"
        for board in boards[:-1]:
            _run("lut", "import", "--mcu", board, "--records", str(records / board), "--out", donors)
        _run("lut", "eval", "--lut", donors, "--mcu", new, "--records", str(records / new),
             "--calibration", "50")
    board = "nucleo-l552ze-q" if "nucleo-l552ze-q" in boards else boards[0]  # the paper's board
    run = f"{out}/search-ucihar-{board}-25ms"
    _run("search", "--dataset", "ucihar", "--mcu", board, "--lat-ms", "25", "--mem-kb", "64",
         "--lut", lut, "--out", run, "--epochs", str(epochs), "--retrain-epochs", str(2 * epochs))
    _run("cost", "--mcu", board, "--lut", lut, "--model", f"{run}/model.tflite")
    print(f"\nquickstart done: LUT and predictor in {lut}, searched network in {run}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="quickstart", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=Path("../shared/mcu-measurements"))
    parser.add_argument("--out", default="runs/quickstart")
    parser.add_argument("--epochs", type=int, default=6, help="search epochs of the demo search")
    args = parser.parse_args(argv)
    if not args.records.is_dir():
        sys.exit(f"quickstart: {args.records}: no such folder of board measurements")
    run(args.records, args.out, args.epochs)


if __name__ == "__main__":
    main()
