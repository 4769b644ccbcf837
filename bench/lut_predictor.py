"""How good is the latency predictor on the real board measurements?

    python bench/lut_predictor.py [--records ../shared/mcu-measurements] [--json]

For every board folder under --records: k-fold cross-validation of the predictor per op kind; for
every ordered pair of boards: onboarding (fit on one, calibrate with --calibration random CONV_2D
configurations of the other, evaluate on all the rest). For comparison, the naive baseline
cycles = a·MACs + b (ordinary least squares) on the same folds / the same calibration rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lut_store import (Lut, OpConfig, cross_validate, import_records, load_mcu,  # noqa: E402
                       onboarding_error)

CONV = "CONV_2D"


def _macs(frame) -> np.ndarray:
    out = []
    for row in frame.to_dict("records"):
        cfg = OpConfig.from_row(row)
        o, i = cfg.output_shape, cfg.input_shape
        out.append(np.prod(o) * i[-1] * row["kernel_h"] * row["kernel_w"])
    return np.array(out, float)


def _naive_errors(train, test) -> np.ndarray:
    x = np.column_stack([_macs(train), np.ones(len(train))])
    coef = np.linalg.lstsq(x, train["cycles"].to_numpy(float), rcond=None)[0]
    pred = np.column_stack([_macs(test), np.ones(len(test))]) @ coef
    return np.abs(pred / test["cycles"].to_numpy(float) - 1.0)


def _summary(err: np.ndarray) -> dict:
    return {"median_rel_error": float(np.median(err)), "p90_rel_error": float(np.percentile(err, 90)),
            "mean_rel_error": float(np.mean(err)), "max_rel_error": float(np.max(err)),
            "n_eval": int(len(err))}


def _conv_rows(lut: Lut, mcu: str):
    f = lut.measured().frame
    return f[(f["mcu"] == mcu) & (f["op"] == CONV)].reset_index(drop=True)


def naive_cv(lut: Lut, mcu: str, folds: int = 5, seed: int = 0) -> dict:
    rows = _conv_rows(lut, mcu)
    n = len(rows)
    fold_of = np.empty(n, int)
    fold_of[np.random.default_rng(seed).permutation(n)] = np.arange(n) % folds
    err = np.zeros(n)
    for k in range(folds):
        test = fold_of == k
        err[test] = _naive_errors(rows[~test], rows[test])
    return {**_summary(err), "folds": folds}


def naive_onboarding(new: Lut, mcu: str, calibration: int = 50, seed: int = 0) -> dict:
    # Same row order and permutation as onboarding_error, so both see the same calibration rows.
    rows = _conv_rows(new, mcu)
    rows = rows[(rows["cycles"] > 0) & np.isfinite(rows["cycles"])].reset_index(drop=True)
    order = np.random.default_rng(seed).permutation(len(rows))
    calib, held = order[:calibration], np.sort(order[calibration:])
    return {**_summary(_naive_errors(rows.iloc[calib], rows.iloc[held])),
            "n_calibration": calibration}


def run(records: Path, folds: int, calibration: int, seed: int) -> dict:
    boards = sorted(p.name for p in records.iterdir() if p.is_dir())
    luts = {b: import_records(records / b, b)[0] for b in boards}
    result = {"records": str(records), "folds": folds, "calibration": calibration, "seed": seed,
              "cross_validation": [], "onboarding": []}
    for board, lut in luts.items():
        counts = lut.measured().frame.groupby("op").size()
        for op, n in sorted(counts.items()):
            k = min(folds, int(n))
            if k < 2:
                continue
            t0 = time.perf_counter()
            entry = {"mcu": board, "op": op, **cross_validate(lut, load_mcu(board), folds=k, seed=seed, op=op)}
            entry["seconds"] = time.perf_counter() - t0
            if op == CONV:
                entry["naive_macs_line"] = naive_cv(lut, board, folds=k, seed=seed)
            result["cross_validation"].append(entry)
    for donor in boards:
        for new in boards:
            if donor == new:
                continue
            mcu = load_mcu(new)
            t0 = time.perf_counter()
            entry = {"train": donor, "new": new,
                     **onboarding_error(luts[donor], luts[new], mcu, calibration=calibration,
                                        seed=seed, mcus=[load_mcu(donor)])}
            entry["seconds"] = time.perf_counter() - t0
            entry["naive_macs_line"] = naive_onboarding(luts[new], new, calibration, seed)
            result["onboarding"].append(entry)
    return result


def _pct(x: float) -> str:
    return f"{100 * x:6.2f} %"


def print_table(r: dict) -> None:
    print(f"Cross-validation ({r['folds']}-fold or fewer when an op has fewer rows), seed {r['seed']}")
    print(f"  {'board':<18} {'op':<8} {'n':>5} {'median':>9} {'p90':>9} {'max':>9}"
          f"   {'naive median':>12} {'naive p90':>10}")
    for e in r["cross_validation"]:
        naive = e.get("naive_macs_line")
        tail = f"   {_pct(naive['median_rel_error']):>12} {_pct(naive['p90_rel_error']):>10}" if naive else ""
        print(f"  {e['mcu']:<18} {e['op']:<8} {e['n_eval']:>5} {_pct(e['median_rel_error']):>9} "
              f"{_pct(e['p90_rel_error']):>9} {_pct(e['max_rel_error']):>9}{tail}")
    print(f"\nOnboarding (CONV_2D): fit on one board, calibrate with {r['calibration']} random "
          "configurations of the other, evaluate on the rest")
    print(f"  {'train -> new':<36} {'n':>5} {'median':>9} {'p90':>9} {'max':>9}"
          f"   {'naive median':>12} {'naive p90':>10}")
    for e in r["onboarding"]:
        naive = e["naive_macs_line"]
        print(f"  {e['train'] + ' -> ' + e['new']:<36} {e['n_eval']:>5} {_pct(e['median_rel_error']):>9} "
              f"{_pct(e['p90_rel_error']):>9} {_pct(e['max_rel_error']):>9}   "
              f"{_pct(naive['median_rel_error']):>12} {_pct(naive['p90_rel_error']):>10}")
    print("\nnaive = cycles ≈ a·MACs + b, least squares on the same training rows "
          "(for onboarding: on the calibration rows of the new board only)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=Path, default=ROOT.parent / "shared" / "mcu-measurements",
                        help="folder with one sub-folder of record files per board")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--calibration", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not args.records.is_dir():
        parser.error(f"{args.records}: no such records folder")
    result = run(args.records, args.folds, args.calibration, args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
