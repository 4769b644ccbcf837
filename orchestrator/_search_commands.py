"""`micronas search`: one MicroNAS search on one data set, board and budget."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from lut_store import InputError

LUT_ENV = "MICRONAS_LUT"


def register(sub) -> None:
    p = sub.add_parser("search", help="search, derive (within budget), retrain and score one network")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", help="ucihar, hapt, basicmotions, japanesevowels")
    src.add_argument("--data", help="a data file or folder: .npz windows, UCI-HAR folder/zip, SkodaR .mat")
    p.add_argument("--mcu", required=True, help="board name or path of its JSON file")
    p.add_argument("--lat-ms", type=_positive_float, help="latency budget Lat_t in ms")
    p.add_argument("--mem-kb", type=_positive_float, help="peak-RAM budget Mem_t in KB (1024 B)")
    p.add_argument("--out", required=True, help="output folder for architecture.json and result.json")
    p.add_argument("--lut", default=None, help=f"LUT folder URL (default ${LUT_ENV})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=_non_negative_int, default=None, help="search epochs (default 30)")
    p.add_argument("--retrain-epochs", type=_positive_int, default=None, help="retraining epochs (default 60)")
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print result.json (without history) as JSON")
    p.set_defaults(run=_search)

    p = sub.add_parser("export", help="int8 .tflite of a finished search (post-training quantisation)")
    p.add_argument("--run", required=True, help="the search's output folder")
    p.add_argument("--out", help="model file (default RUN/model.tflite)")
    p.add_argument("--calibration", type=_positive_int, default=256,
                   help="training windows used to calibrate the int8 ranges (default 256)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_export)


def _number(kind, check, what):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or not check(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_float = _number(float, lambda v: v > 0, "a positive number")
_positive_int = _number(int, lambda v: v > 0, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "a non-negative integer")


def _search(args) -> None:
    from lut_store import LatencyModel, load_mcu
    from search_core.data import load_dataset
    from search_core.search import SearchConfig, run_search

    from .cli import emit

    if args.lat_ms is None and args.mem_kb is None:
        raise InputError("give at least one budget: --lat-ms and/or --mem-kb")
    lut = args.lut or os.environ.get(LUT_ENV)
    if not lut:
        raise InputError(f"no LUT: import board measurements with `micronas lut import` and pass "
                         f"--lut URL (or set ${LUT_ENV})")
    mcu = load_mcu(args.mcu)  # an unknown board fails before any data is read
    latency = LatencyModel.open(lut, mcu)
    if not len(latency.lut) and latency.predictor is None:
        raise InputError(f"{lut}: no LUT rows for {mcu.name} and nothing to predict from")
    data = load_dataset(args.dataset or args.data, seed=args.seed)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("retrain_epochs", args.retrain_epochs),
                                   ("batch_size", args.batch_size)) if v is not None}
    config = SearchConfig(seed=args.seed, **overrides)
    outcome = run_search(data, latency, lat_ms=args.lat_ms, mem_kb=args.mem_kb, config=config,
                         out_dir=args.out, show_progress=not args.no_progress,
                         data_source=args.dataset or str(Path(args.data).resolve()))
    result = {k: v for k, v in outcome.result.items() if k != "search_history"}

    def human(r):
        b = r["budget"]
        print(f"{r['dataset']} on {r['mcu']}: budget {b['latency_ms']} ms / {b['memory_kb']} KB")
        print(f"  latency {r['latency_ms']:.2f} ms (expected {r['expected_latency_ms']:.2f}), "
              f"peak memory {r['peak_memory_bytes'] / 1024:.2f} KB "
              f"(expected {r['expected_memory_bytes'] / 1024:.2f}), fits: {r['fits']}")
        if r["repairs"]:
            print(f"  repaired in {len(r['repairs'])} steps: {', '.join(r['repairs'])}")
        print(f"  test accuracy {100 * r['test_accuracy']:.2f} %, macro-F1 {100 * r['test_macro_f1']:.2f} %")
        t = r["timings"]
        print(f"  search {t['search_s']:.0f} s, retraining {t['retrain_s']:.0f} s -> {args.out}")
    emit(result, args.json, human)


def _export(args) -> None:
    from search_core.data import load_dataset
    from search_core.deploy import export_run

    from .cli import emit

    result_file = Path(args.run) / "result.json"
    try:
        result = json.loads(result_file.read_text())
        source, seed = result["data_source"], int(result["seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{result_file}: not the result of a finished search ({exc})") from None
    data = load_dataset(source, seed=seed)
    path = export_run(args.run, data.x_train[:args.calibration], args.out)
    emit({"model": str(path), "bytes": path.stat().st_size}, args.json,
         lambda r: print(f"int8 model written to {r['model']} ({r['bytes']} bytes)"))
